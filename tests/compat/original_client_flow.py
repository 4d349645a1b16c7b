"""The original MemGPT client (pymemgpt 0.3.x: `RESTClient` and `Admin`), unchanged, against this
server: users, keys, agents, memory and messages. Run by tests/test_original_client.py with the
Python of a virtual environment that has pymemgpt installed; prints one JSON object.

    python original_client_flow.py BASE_URL ADMIN_PASSWORD
"""

import json
import sys
import uuid

from memgpt.client.admin import Admin
from memgpt.client.client import RESTClient

base_url, password = sys.argv[1], sys.argv[2]
seen: dict[str, object] = {}

admin = Admin(base_url, password)
created = admin.create_user()
user_id, key = created.user_id, created.api_key
seen["user_created"] = str(user_id)
second = admin.create_key(user_id, "laptop").api_key
seen["keys"] = admin.get_keys(user_id).api_key_list
seen["users"] = [u["user_id"] for u in admin.get_users().user_list]

client = RESTClient(base_url, key)
agent = client.create_agent(name="Compat", preset="memgpt_chat", persona="sam_pov", human="cs_phd")
seen["agent_name"] = agent.name
seen["agent_exists"] = client.agent_exists(agent_id=agent.id)
seen["agent_missing"] = client.agent_exists(agent_id=uuid.uuid4())
seen["listed"] = [a["name"] for a in client.list_agents().agents]
seen["renamed"] = client.rename_agent(agent.id, "Compat2").name
seen["fetched"] = client.get_agent(agent_id=agent.id).name

memory = client.get_agent_memory(agent.id)
seen["human_before"] = memory.core_memory.human
updated = client.update_agent_core_memory(str(agent.id), {"human": "Name: Ada"})
seen["human_after"] = updated.new_core_memory.human
seen["recall"] = client.get_agent_memory(agent.id).recall_memory

reply = client.user_message(str(agent.id), "hello from the original client")
seen["reply"] = [m for m in reply.messages if "assistant_message" in m]
seen["system_reply"] = [
    m for m in client.send_message(agent.id, "a system note", role="system").messages if "assistant_message" in m
]
seen["command"] = client.run_command(str(agent.id), "/memory").response[:40]

client.insert_archival_memory(agent.id, "The vault code is 4-8-15-16.")
archival = client.get_agent_archival_memory(agent.id).archival_memory
seen["archival"] = [m.contents for m in archival]
client.delete_archival_memory(agent.id, archival[0].id)
seen["archival_after_delete"] = len(client.get_agent_archival_memory(agent.id).archival_memory)

seen["humans"] = [h.name for h in client.list_humans().humans]
seen["personas"] = [p.name for p in client.list_personas().personas]
seen["presets"] = [p.name for p in client.list_presets()]
seen["models"] = [(m.model, m.model_endpoint_type) for m in client.list_models().models]
seen["config_preset"] = client.get_config().config["preset"]

client.delete_agent(agent.id)
seen["after_delete"] = client.agent_exists(agent_id=agent.id)
seen["key_deleted"] = admin.delete_key(second).message
seen["user_deleted"] = str(admin.delete_user(user_id).user_id_deleted)
print(json.dumps(seen))
