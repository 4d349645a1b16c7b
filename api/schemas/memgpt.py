"""Request and response bodies. The same models validate requests, shape responses and make up
the OpenAPI documents, so the documents cannot drift from what is served."""

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from msgspec import Meta, Struct

from domain.functions import SCHEMAS
from domain.memory import SECTION_LIMIT
from domain.names import NAME_PATTERN

# Every string a request carries is stored as PostgreSQL text, which cannot hold U+0000: the
# documents say so with this pattern on each of them, and msgspec enforces the same pattern.
NUL_FREE = r"^[^\x00]*$"
# Python's `$` also matches before a final newline; `(?!\n)` after it makes an anchored pattern
# mean the same to Python (which validates) and to ECMA-262 (which the documents' readers use).
END = r"$(?!\n)"
# Some text that is neither NUL nor whitespace (Python's str.isspace, which decides what is blank).
NON_BLANK = r"^(?![\s\S]*\x00)[\s\S]*?[^\x00\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
INT64_MAX = 2**63 - 1  # JSON parsers (orjson among them) read larger integers as floats

Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=NUL_FREE)]
Cursor = Annotated[str, Meta(max_length=200, pattern=NUL_FREE)]
Offset = Annotated[int, Meta(ge=0, le=1_000_000_000)]
EntryName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_. -]{1,100}" + END)]
AgentName = Annotated[
    str, Meta(pattern=NAME_PATTERN.pattern + r"(?!\n)", description="1-50 letters, digits, spaces, '-' or '_'.")
]
FunctionName = Literal[tuple(SCHEMAS)]  # type: ignore[valid-type]
COMMAND_PATTERN = (
    r"^/(memory|retry|heartbeat|memorywarning)"
    + END
    + r"|^/(dump|pop)( [1-9][0-9]{0,5})?"
    + END
    + r"|^/(rethink|rewrite) +[^ \x00][^\x00]*$"
)
CoreText = Annotated[
    str, Meta(max_length=SECTION_LIMIT, pattern=NUL_FREE, description=f"At most {SECTION_LIMIT} characters.")
]
Setting = Annotated[str, Meta(max_length=2000, pattern=NUL_FREE)]


class Error(Struct):
    detail: str


# admin


class UserSummary(Struct):
    user_id: UUID


Limit = Annotated[int, Meta(ge=1, le=1000, description="Page size.")]


class Page(Struct, kw_only=True):
    """`limit` and `after` (the last id or name of the previous page) on every list route;
    `cursor` is the name the original admin client uses for `after`."""

    limit: Limit | None = None
    after: Cursor | None = None
    cursor: Cursor | None = None

    @property
    def start_after(self) -> str | None:
        return self.after or self.cursor


class IdPage(Struct, kw_only=True):
    limit: Limit | None = None
    after: UUID | None = None
    cursor: UUID | None = None

    @property
    def start_after(self) -> UUID | None:
        return self.after or self.cursor


class GetAllUsersResponse(Struct, omit_defaults=True):
    user_list: list[UserSummary]
    cursor: Annotated[UUID | None, Meta(description="Pass as after= for the next page; null at the end.")] = None


class CreateUserRequest(Struct, kw_only=True):
    user_id: UUID | None = None
    api_key_name: Name | None = None


class CreateUserResponse(Struct):
    user_id: UUID
    api_key: str


class UserQuery(Struct):
    user_id: UUID


class KeysQuery(Struct, kw_only=True):
    user_id: UUID
    limit: Limit | None = None
    after: Cursor | None = None


class DeleteUserResponse(Struct):
    message: str
    user_id_deleted: UUID


class CreateAPIKeyRequest(Struct, kw_only=True):
    user_id: UUID
    name: Name | None = None
    key_name: Annotated[Name | None, Meta(description="What later 0.3.x admin clients call `name`.")] = None


class CreateAPIKeyResponse(Struct):
    api_key: str


class GetAPIKeysResponse(Struct):
    api_key_list: Annotated[list[str], Meta(description="The user's keys, masked: they are shown whole only once.")]


class APIKeyQuery(Struct):
    api_key: Name


class DeleteAPIKeyResponse(Struct):
    message: str
    api_key_deleted: Annotated[str, Meta(description="The deleted key, masked.")]


# agents


_PROVIDER = "One of the server's providers by name (GET /api/models); the endpoint may name one too, by URL or name."
_OWN_KEY = (
    "Your own key for an endpoint of your own (only where the server allows users' endpoints); "
    "stored encrypted, never returned."
)


class LLMConfigInput(Struct, kw_only=True):
    """What a client may choose of an agent's model; left-out or null fields take the defaults."""

    model: Setting | None = None
    model_endpoint_type: Setting | None = None
    model_endpoint: Setting | None = None
    model_wrapper: Setting | None = None
    context_window: Annotated[int, Meta(ge=1, le=INT64_MAX)] | None = None
    provider: Annotated[Setting | None, Meta(description=_PROVIDER)] = None
    api_key: Annotated[Setting | None, Meta(description=_OWN_KEY)] = None


class EmbeddingConfigInput(Struct, kw_only=True):
    embedding_endpoint_type: Setting | None = None
    embedding_endpoint: Setting | None = None
    embedding_model: Setting | None = None
    embedding_dim: Annotated[int, Meta(ge=1, le=16_000)] | None = None
    embedding_chunk_size: Annotated[int, Meta(ge=1, le=INT64_MAX)] | None = None
    provider: Annotated[Setting | None, Meta(description=_PROVIDER)] = None
    api_key: Annotated[Setting | None, Meta(description=_OWN_KEY)] = None


class LLMConfigModel(Struct, kw_only=True):
    model: str | None = None
    model_endpoint_type: str | None = None
    model_endpoint: str | None = None
    model_wrapper: str | None = None
    context_window: Annotated[int, Meta(ge=1)] | None = None


class EmbeddingConfigModel(Struct, kw_only=True):
    embedding_endpoint_type: str | None = None
    embedding_endpoint: str | None = None
    embedding_model: str | None = None
    embedding_dim: Annotated[int, Meta(ge=1, le=16_000)] | None = None
    embedding_chunk_size: Annotated[int, Meta(ge=1)] | None = None


class AgentConfigInput(Struct, kw_only=True):
    """Every field may be left out or null (the original client sends null): defaults apply."""

    name: AgentName | None = None
    preset: Annotated[Name | None, Meta(description="One of GET /api/presets; another name is 404.")] = None
    human: Annotated[Name | None, Meta(description="One of GET /api/humans; another name is 404.")] = None
    persona: Annotated[Name | None, Meta(description="One of GET /api/personas; another name is 404.")] = None
    llm_config: LLMConfigInput | None = None
    embedding_config: EmbeddingConfigInput | None = None


class CreateAgentRequest(Struct):
    config: AgentConfigInput


class CoreMemory(Struct):
    persona: str
    human: str


class AgentStateModel(Struct):
    id: UUID
    name: str
    user_id: UUID
    preset: str
    persona: Annotated[str, Meta(description="Name of the persona chosen at creation.")]
    human: Annotated[str, Meta(description="Name of the human chosen at creation.")]
    llm_config: LLMConfigModel
    embedding_config: EmbeddingConfigModel
    state: Annotated[
        dict[str, Any],
        Meta(description="persona and human (current core memory), system, functions, messages (in-context ids)."),
    ]
    created_at: Annotated[int, Meta(description="Unix seconds.")]
    functions_schema: Annotated[list[dict[str, Any]], Meta(description="The functions the agent can call.")]


class AgentPreset(Struct):
    """The preset an agent was made from, as later 0.3.x clients expect it beside the state."""

    name: str
    system: str
    functions_schema: list[dict[str, Any]]
    persona_name: str
    human_name: str


class AgentStateResponse(Struct):
    agent_state: AgentStateModel
    preset: AgentPreset
    sources: Annotated[list[str], Meta(description="Names of the data sources attached to the agent.")]
    last_run_at: Annotated[int | None, Meta(description="Unix seconds of the agent's last message.")] = None


class AgentSummary(Struct):
    id: UUID
    name: str
    human: str
    persona: str
    preset: str
    user_id: UUID
    llm_config: LLMConfigModel
    embedding_config: EmbeddingConfigModel
    created_at: Annotated[str, Meta(description="ISO 8601, UTC.")]


class ListAgentsResponse(Struct, omit_defaults=True):
    num_agents: Annotated[int, Meta(description="How many agents the user has in all.")]
    agents: list[AgentSummary]
    cursor: Annotated[UUID | None, Meta(description="Pass as after= for the next page; null at the end.")] = None


class AgentQuery(Struct):
    agent_id: UUID


class AgentRenameRequest(Struct):
    agent_id: UUID
    agent_name: AgentName


class AgentRenameBody(Struct):
    agent_name: AgentName


class DeleteAgentResponse(Struct):
    message: str


class GetAgentMemoryResponse(Struct):
    core_memory: CoreMemory
    recall_memory: int
    archival_memory: int


class UpdateAgentMemoryRequest(Struct, kw_only=True):
    agent_id: UUID
    persona: CoreText | None = None
    human: CoreText | None = None


class UpdateAgentMemoryBody(Struct, kw_only=True):
    persona: CoreText | None = None
    human: CoreText | None = None


class UpdateAgentMemoryResponse(Struct):
    old_core_memory: CoreMemory
    new_core_memory: CoreMemory


# messages

Role = Literal["user", "system"]
MessageText = Annotated[str, Meta(min_length=1, max_length=100_000, pattern=NUL_FREE)]


class UserMessageRequest(Struct, kw_only=True):
    agent_id: UUID
    message: MessageText
    stream: bool = False
    role: Role = "user"


class UserMessageBody(Struct, kw_only=True):
    message: MessageText
    stream: bool = False
    role: Role = "user"


class UserMessageResponse(Struct):
    messages: Annotated[
        list[dict[str, str]],
        Meta(
            description="The turn's events in order: internal_monologue, function_call, assistant_message, "
            "function_return (+status), internal_error; each with date (ISO 8601, UTC)."
        ),
    ]


class HistoryPathQuery(Struct, kw_only=True):
    start: Offset = 0
    count: Annotated[int, Meta(ge=0, le=1000)] = 100
    limit: Limit | None = None
    after: Annotated[UUID | None, Meta(description="Only messages newer than this message id.")] = None
    before: Annotated[
        UUID | None,
        Meta(description="Only messages older than this message id; with `after`, the page ends where it reaches it."),
    ] = None


class HistoryQuery(HistoryPathQuery, kw_only=True):
    agent_id: UUID


class MessageModel(Struct, kw_only=True):
    id: UUID
    user_id: UUID
    agent_id: UUID
    role: str
    text: str | None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    model: str | None = None
    created_at: Annotated[str, Meta(description="ISO 8601, UTC.")]


class GetAgentMessagesResponse(Struct):
    messages: Annotated[list[MessageModel], Meta(description="Newest first.")]


Command = Annotated[
    str,
    Meta(
        max_length=100_000,
        pattern=COMMAND_PATTERN,
        description="/memory, /dump [n], /pop [n], /retry, /rethink <text>, /rewrite <text>, /heartbeat, "
        "/memorywarning (n from 1 to 999999). /pop, /retry, /rethink and /rewrite answer 409 when there is "
        "nothing in context to act on.",
    ),
]


class CommandRequest(Struct):
    agent_id: UUID
    command: Command


class CommandBody(Struct):
    command: Command


class CommandResponse(Struct):
    response: str


# archival memory


class PastQuery(Struct, kw_only=True):
    """A past state: right after the event at log position `at`, or as it stood at `at_time`."""

    at: (
        Annotated[
            int,
            Meta(ge=1, le=INT64_MAX, description="A log position (an event's `position`): the state right after it."),
        ]
        | None
    ) = None
    at_time: (
        Annotated[datetime, Meta(tz=True, description="ISO 8601 with a time zone: the state as it stood then.")] | None
    ) = None


class ArchivalQuery(PastQuery, kw_only=True):
    start: Offset = 0
    count: Annotated[int, Meta(ge=1, le=1000)] | None = None
    limit: Annotated[int, Meta(ge=1, le=1000)] | None = None
    after: Annotated[UUID | None, Meta(description="Only passages after this passage id.")] = None
    before: Annotated[
        UUID | None,
        Meta(description="Only passages before this passage id; with `after`, the page ends where it reaches it."),
    ] = None


class ArchivalMemoryObject(Struct):
    id: UUID
    contents: str
    created_at: Annotated[str, Meta(description="ISO 8601, UTC.")]


class GetAgentArchivalMemoryResponse(Struct):
    archival_memory: Annotated[list[ArchivalMemoryObject], Meta(description="Oldest first.")]


class InsertAgentArchivalMemoryRequest(Struct):
    content: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=1_000_000,
            pattern=NON_BLANK,
            description="Text with something besides whitespace in it; it is split into passages. The whole "
            "body is limited to MEMGPT_MAX_BODY_BYTES (1 MiB by default; 413 beyond).",
        ),
    ]


class InsertAgentArchivalMemoryResponse(Struct):
    ids: Annotated[list[UUID], Meta(description="One passage per chunk of embedding_chunk_size tokens.")]


class PassageQuery(Struct):
    id: UUID


class DeleteAgentArchivalMemoryResponse(Struct):
    message: str


# data sources


class SourceModel(Struct):
    id: UUID
    name: str
    description: str | None
    user_id: UUID
    created_at: Annotated[str, Meta(description="ISO 8601, UTC.")]
    embedding_config: EmbeddingConfigModel


class ListSourcesResponse(Struct, omit_defaults=True):
    sources: list[SourceModel]
    cursor: UUID | None = None


class CreateSourceRequest(Struct, kw_only=True):
    name: EntryName
    description: Setting | None = None


class SourceQuery(Struct):
    source_id: UUID


class AttachQuery(Struct, kw_only=True):
    """The source by name (as 0.3.4 clients send it) or by id: at least one of the two."""

    required_one_of: ClassVar[tuple[str, ...]] = ("source_name", "source_id")
    agent_id: UUID
    source_name: Cursor | None = None
    source_id: UUID | None = None


class AgentOnlyQuery(Struct):
    agent_id: UUID


class UploadFileToSourceResponse(Struct):
    source: SourceModel
    added_passages: int
    added_documents: int


class SourcePassage(Struct):
    id: UUID
    text: str
    doc_id: UUID
    created_at: str


class ListSourcePassagesResponse(Struct):
    passages: list[SourcePassage]


class SourceDocument(Struct):
    id: UUID
    filename: str
    passages: int
    created_at: str


class ListSourceDocumentsResponse(Struct):
    documents: list[SourceDocument]


class DeleteSourceResponse(Struct):
    message: str


# catalogue


class CatalogueEntry(Struct):
    name: str
    text: str


class CreateCatalogueEntryRequest(Struct):
    name: EntryName
    text: Annotated[
        str,
        Meta(
            max_length=SECTION_LIMIT, pattern=NUL_FREE, description="At most 2000 characters: it becomes core memory."
        ),
    ]


class ListHumansResponse(Struct):
    humans: list[CatalogueEntry]


class ListPersonasResponse(Struct):
    personas: list[CatalogueEntry]


class PresetModel(Struct):
    name: str
    system_prompt: str
    functions: list[dict[str, Any]]
    # the same again under the names later 0.3.x clients read
    system: str
    functions_schema: list[dict[str, Any]]


class CreatePresetRequest(Struct):
    name: EntryName
    system_prompt: Annotated[str, Meta(min_length=1, max_length=50_000, pattern=NUL_FREE)]
    functions: Annotated[
        list[FunctionName], Meta(min_length=1, max_length=50, description="Function names, see /api/tools.")
    ]


class ListPresetsResponse(Struct):
    presets: list[PresetModel]


class DeletePresetResponse(Struct):
    message: str


class ToolModel(Struct):
    name: str
    json_schema: dict[str, Any]
    tags: list[str]


class ListToolsResponse(Struct):
    tools: list[ToolModel]


class ModelEntry(Struct):
    name: str
    endpoint: str | None
    endpoint_type: str
    wrapper: str | None
    context_window: int | None
    # the same again as an llm_config, which is how later 0.3.x clients read a model
    model: str
    model_endpoint: str | None
    model_endpoint_type: str
    model_wrapper: str | None


class ListModelsResponse(Struct):
    models: list[ModelEntry]


class ConfigResponse(Struct):
    config: Annotated[dict[str, Any], Meta(description="The server's configuration; secrets masked.")]
    defaults: Annotated[dict[str, Any], Meta(description="The built-in defaults.")]


class AuthRequest(Struct):
    password: Annotated[str, Meta(max_length=1000, pattern=NUL_FREE)]


class AuthResponse(Struct):
    uuid: UUID
