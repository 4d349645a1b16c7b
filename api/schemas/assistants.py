"""Bodies of the OpenAI-Assistants-compatible routes (/v1), in OpenAI's object shapes."""

from typing import Annotated, Any, Literal
from uuid import UUID

from msgspec import Meta, Struct

from api.schemas.memgpt import NUL_FREE

# OpenAI's limits: up to 16 pairs, keys up to 64 characters, values strings up to 512.
Metadata = Annotated[
    dict[
        Annotated[str, Meta(max_length=64, pattern=NUL_FREE)],
        Annotated[str, Meta(max_length=512, pattern=NUL_FREE)],
    ],
    Meta(max_length=16, description="Up to 16 pairs; keys up to 64 characters, values strings up to 512."),
]
Short = Annotated[str, Meta(max_length=200, pattern=NUL_FREE)]
Instructions = Annotated[str, Meta(max_length=32_768, pattern=NUL_FREE)]
Content = Annotated[str, Meta(min_length=1, max_length=100_000, pattern=NUL_FREE)]
ToolType = Annotated[
    str, Meta(min_length=1, max_length=64, pattern=NUL_FREE, description="code_interpreter, retrieval, function...")
]


class Tool(Struct):
    """An OpenAI tool object; only its `type` is kept (other fields, such as `function`, are ignored)."""

    type: ToolType


Tools = Annotated[list[ToolType | Tool], Meta(max_length=128)]


class ListQuery(Struct, kw_only=True):
    limit: Annotated[int, Meta(ge=1, le=100)] = 20
    order: Literal["asc", "desc"] = "desc"
    after: UUID | None = None


class CreateAssistantRequest(Struct, kw_only=True):
    model: Annotated[str, Meta(min_length=1, max_length=200, pattern=NUL_FREE)]
    name: Annotated[str, Meta(min_length=1, max_length=256, pattern=NUL_FREE)]
    instructions: Instructions
    description: Annotated[str, Meta(max_length=512, pattern=NUL_FREE)] | None = None
    tools: Tools | None = None
    file_ids: Annotated[list[Short], Meta(max_length=20)] | None = None
    metadata: Metadata | None = None
    embedding_model: Short | None = None


class OpenAIAssistant(Struct):
    id: UUID
    created_at: int
    name: str
    description: str | None
    model: str
    instructions: str
    tools: list[Any]
    metadata: dict[str, Any]
    object: str = "assistant"
    file_ids: list[str] = []


class ListAssistantsResponse(Struct):
    data: list[OpenAIAssistant]
    first_id: UUID | None
    last_id: UUID | None
    has_more: bool
    object: str = "list"


class DeletedResponse(Struct):
    id: UUID
    object: str
    deleted: bool = True


class MessageInput(Struct, kw_only=True):
    role: Literal["user"] = "user"
    content: Content
    file_ids: Annotated[list[Short], Meta(max_length=10)] | None = None
    metadata: Metadata | None = None


class CreateThreadRequest(Struct, kw_only=True):
    messages: Annotated[list[MessageInput | Content], Meta(max_length=100)] | None = None
    metadata: Metadata | None = None
    assistant_name: Short | None = None


class OpenAIThread(Struct):
    id: UUID
    created_at: int
    metadata: dict[str, Any]
    object: str = "thread"


class OpenAIMessage(Struct):
    id: UUID
    created_at: int
    thread_id: UUID
    role: str
    content: Annotated[
        list[dict[str, Any]], Meta(description='[{"type": "text", "text": {"value": ..., "annotations": []}}]')
    ]
    assistant_id: UUID | None
    run_id: UUID | None
    metadata: dict[str, Any]
    object: str = "thread.message"
    file_ids: list[str] = []


class ListMessagesResponse(Struct):
    data: list[OpenAIMessage]
    first_id: UUID | None
    last_id: UUID | None
    has_more: bool
    object: str = "list"


class CreateRunRequest(Struct, kw_only=True):
    assistant_id: UUID
    model: Short | None = None
    instructions: Instructions | None = None
    additional_instructions: Instructions | None = None
    tools: Tools | None = None
    metadata: Metadata | None = None


class RunError(Struct):
    code: str
    message: str


class OpenAIRun(Struct):
    id: UUID
    created_at: int
    thread_id: UUID
    assistant_id: UUID
    status: Annotated[str, Meta(description="queued, in_progress, completed or failed: the state of the agent's turn.")]
    last_error: RunError | None
    started_at: int | None
    completed_at: int | None
    failed_at: int | None
    model: str
    instructions: str
    tools: list[Any]
    metadata: dict[str, Any]
    object: str = "thread.run"
    required_action: None = None
    expires_at: int | None = None
    cancelled_at: int | None = None
    file_ids: list[str] = []


class ListRunsResponse(Struct):
    data: list[OpenAIRun]
    first_id: UUID | None
    last_id: UUID | None
    has_more: bool
    object: str = "list"
