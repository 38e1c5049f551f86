"""Calls openloop's OpenAI-compatible API with the official Python SDK, as an application would.

Usage: python_sdk_check.py BASE_URL API_KEY CHAT_MODEL EMBED_MODEL
Prints one JSON object with what each call returned, for the calling test to check.
"""
import json
import sys

import openai
from openai import OpenAI

base_url, api_key, chat_model, embed_model = sys.argv[1:5]
client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
out = {"sdk_version": openai.__version__}

messages = [
    {"role": "system", "content": "Answer in one word."},
    {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]},
]
res = client.chat.completions.create(model=chat_model, messages=messages, max_tokens=8, extra_headers={"x-openloop-cache": "bypass"})
out["chat"] = {"text": res.choices[0].message.content, "finish_reason": res.choices[0].finish_reason, "usage": res.usage.model_dump()}

text, usage, finishes = "", None, []
stream = client.chat.completions.create(
    model=chat_model, messages=messages, max_tokens=8, stream=True, stream_options={"include_usage": True}, extra_headers={"x-openloop-cache": "bypass"}
)
for chunk in stream:
    for choice in chunk.choices:
        text += choice.delta.content or ""
        if choice.finish_reason:
            finishes.append(choice.finish_reason)
    if chunk.usage:
        usage = chunk.usage.model_dump()
out["stream"] = {"text": text, "finish_reasons": finishes, "usage": usage}

texts = ["alpha beta", "gamma"]
floats = client.embeddings.create(model=embed_model, input=texts, encoding_format="float")
decoded = client.embeddings.create(model=embed_model, input=texts)  # the SDK asks for base64 and decodes it
out["embeddings"] = {
    "float": [d.embedding for d in floats.data],
    "base64": [list(d.embedding) for d in decoded.data],
    "usage": floats.usage.model_dump(),
}

errors = {}
try:
    client.chat.completions.create(model=chat_model, messages=messages, n=2)
except openai.BadRequestError as e:
    errors["n"] = {"status": e.status_code, "param": e.param, "type": e.type}
try:
    client.chat.completions.create(model="no-such-model", messages=messages)
except openai.NotFoundError as e:
    errors["model"] = {"status": e.status_code, "code": e.code}
try:
    OpenAI(base_url=base_url, api_key="wrong-key", max_retries=0).embeddings.create(model=embed_model, input="x")
    errors["key"] = {"status": 200}
except openai.AuthenticationError as e:
    errors["key"] = {"status": e.status_code}
out["errors"] = errors

print(json.dumps(out))
