"""A backend for any server speaking the OpenAI API: vLLM, TGI, llama.cpp's server,
llama-cpp-python's server. Teams share one GPU box; every editor talks to it.

Which endpoint:

* ``/v1/completions`` with our exact prompt text whenever the prompt family is known
  (the served model name matches a preset, or `prompt_family` is given), so e.g.
  StarCoder2-Instruct gets the template it was trained on, exactly as the embedded
  backends send it;
* ``/v1/chat/completions`` with `GenerationRequest.messages` otherwise: the server then
  applies the model's chat template (ModelInfo.uses_chat_api is True).

    backend.py        OpenAIBackend: endpoint choice, payload, the answer's stream, stats
    http_client.py    the HTTP client (API key header) and HTTP failures as user errors
    served_model.py   /v1/models → ModelInfo; which preset a served name refers to
    sse_stream.py     the reader thread and server-sent event parsing
    token_count.py    token counts from the server's tokenize endpoint, else estimated
"""

from model.openai_backend.backend import OpenAIBackend
from model.openai_backend.served_model import match_preset

__all__ = ["OpenAIBackend", "match_preset"]
