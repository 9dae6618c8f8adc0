"""Every documented setting does what its documentation says.

The list is not written here: it is read from vscode-extension/package.json
(`contributes.configuration`), README.md's Configuration table and the server's Settings
dataclass, and the three must agree (a setting documented in one place and missing in
another fails). Then each server setting is changed through
`workspace/didChangeConfiguration` on a running server (the real StarcoderServer on the
tiny model) and its documented effect is observed: live settings act on the next request,
*reload* settings reload the backend on next use (visible in `starcoder/getStatus`), and
a bad value warns and keeps the previous value. A setting without a check here fails.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from lsp_server.settings import RESTART_KEYS, Settings, camel_name
from model.base import Backend, GenerationRequest
from model.llamacpp_backend import LlamaCppBackend
from tests.fixtures.canned_openai import canned_openai
from tests.fixtures.tiny_model import TinyModel
from tests.hardening.harness import InProcess

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
URI = "file:///tmp/starcoder-settings/example.py"
SOURCE = ("import os\n\n\n# starcoder: add a docstring\ndef area(width, height):\n"
          "    return width * height\n")
EDIT_AT = {"start": {"line": 3, "character": 2}, "end": {"line": 3, "character": 2}}
# Used by the editor only (documented in package.json and the extension's README).
CLIENT_SIDE = {"server.path", "server.python", "server.args", "server.env", "preview",
               "trace.server"}


# ---- what is documented ----------------------------------------------------------------


def package_settings() -> dict[str, dict[str, Any]]:
    data = json.loads((REPO / "vscode-extension" / "package.json").read_text("utf-8"))
    found: dict[str, dict[str, Any]] = {}
    for section in data["contributes"]["configuration"]:
        for key, spec in section["properties"].items():
            found[key.removeprefix("starcoder.")] = {**spec, "group": section["title"]}
    return found


def readme_settings() -> dict[str, str]:
    """README's Configuration table: setting name -> its row."""
    text = (REPO / "README.md").read_text("utf-8")
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        for name in re.findall(r"`([^`]+)`", first):
            rows[name] = line
    return rows


SERVER_SETTINGS = sorted(camel_name(f.name) for f in fields(Settings))


def test_the_three_lists_agree() -> None:
    package, readme = package_settings(), readme_settings()
    assert sorted(set(package) - CLIENT_SIDE) == SERVER_SETTINGS
    assert sorted(readme) == SERVER_SETTINGS
    extension_readme = (REPO / "vscode-extension" / "README.md").read_text("utf-8")
    missing = [k for k in package if f"starcoder.{k}" not in extension_readme]
    assert missing == [], "settings missing from vscode-extension/README.md"


def test_reload_and_live_are_documented_as_the_server_does_them() -> None:
    readme = readme_settings()
    reload_keys = {camel_name(k) for k in RESTART_KEYS}
    marked = {name for name, row in readme.items() if "*reload*" in row}
    assert marked == reload_keys
    package = package_settings()
    for name in SERVER_SETTINGS:
        text = package[name].get("markdownDescription") or package[name]["description"]
        live = "Applied live" in text
        assert live == (name not in reload_keys and name != "loadOnStart"), name


def test_defaults_agree() -> None:
    package, defaults = package_settings(), Settings()
    for field in fields(Settings):
        name = camel_name(field.name)
        documented = package[name].get("default")
        actual = getattr(defaults, field.name)
        if name == "speculative":
            actual = {"on": True, "off": False}.get(actual, actual)
        if name == "model":
            continue  # package.json: "" means "the server's default"
        assert documented == actual, name


# ---- a running server, and ways to look inside it -----------------------------------


@dataclass
class Probe:
    host: InProcess
    requests: list[GenerationRequest]
    model: TinyModel

    async def change(self, **values: Any) -> None:
        self.host.notify("workspace/didChangeConfiguration",
                         {"settings": {"starcoder": values}})
        await asyncio.sleep(0.05)

    async def edit(self, uri: str = URI, rng: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.host.request("starcoder/edit", {"uri": uri, "range": rng or EDIT_AT},
                                       timeout=120)

    async def status(self) -> dict[str, Any]:
        return (await self.host.request("starcoder/getStatus", {}))["result"]

    @property
    def backend(self) -> Backend | None:
        return self.host.server.models._backend

    async def inline(self, line: int = 5, character: int = 4) -> dict[str, Any]:
        reply = await self.host.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": URI}, "position": {"line": line, "character": character},
            "context": {"triggerKind": 2}}, timeout=120)
        return reply["result"]

    async def completion_history(self) -> list[dict[str, Any]]:
        reply = await self.host.request("starcoder/completionStats", {})
        return list(reply["result"]["requests"])


@pytest.fixture
def probe(tiny_model: TinyModel, monkeypatch: pytest.MonkeyPatch) -> Iterator[Probe]:
    requests: list[GenerationRequest] = []
    real = Backend.generate

    def recording(self: Backend, request: GenerationRequest, *args: Any, **kw: Any) -> Any:
        requests.append(request)
        return real(self, request, *args, **kw)

    monkeypatch.setattr(Backend, "generate", recording)
    host = InProcess()  # no command-line flags: they would win over the settings
    try:
        yield Probe(host, requests, tiny_model)
    finally:
        host.close()


async def started(probe: Probe, **options: Any) -> Probe:
    """initialize with these initializationOptions (the tiny model, short answers, unless
    given)."""
    await probe.host.initialize({"model": str(probe.model.gguf_path), "maxTokens": 16,
                                 **options})
    probe.host.open(URI, SOURCE)
    await asyncio.sleep(0.05)
    return probe


def slow_engine(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.02) -> None:
    """Every token takes at least `seconds` (a big model on a small machine)."""
    real = LlamaCppBackend._generate

    def slow(self: LlamaCppBackend, *args: Any) -> Iterator[str]:
        for piece in real(self, *args):
            time.sleep(seconds)
            yield piece

    monkeypatch.setattr(LlamaCppBackend, "_generate", slow)


async def reloads_on_next_use(probe: Probe, **values: Any) -> Backend:
    """Load, change, see the status say so, and return the backend the next use loads."""
    assert "result" in await probe.edit()
    before = probe.backend
    await probe.change(**values)
    status = await probe.status()
    assert status["state"] == "idle" and "reloads on next use" in status["message"], status
    assert probe.backend is None
    reply = await probe.edit()
    assert "result" in reply, reply
    after = probe.backend
    assert after is not None and after is not before
    return after


# ---- one check per setting ----------------------------------------------------------

Check = Callable[[Probe, pytest.MonkeyPatch, Path], Awaitable[None]]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[name] = fn
        return fn
    return register


@check("model")
async def _model(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    await started(p)
    backend = await reloads_on_next_use(p, model=str(p.model.gguf_q8_path))
    assert isinstance(backend, LlamaCppBackend)
    assert backend.model_path == p.model.gguf_q8_path


@check("backend")
async def _backend(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    pytest.importorskip("transformers")
    await started(p)
    backend = await reloads_on_next_use(p, backend="transformers", model=str(p.model.hf_dir))
    assert backend.name == "transformers" and (await p.status())["backend"] == "transformers"


@check("endpoint")
async def _endpoint(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    with canned_openai() as server:
        await started(p)
        backend = await reloads_on_next_use(p, endpoint=server.url)
        assert backend.name == "openai" and server.seen_payloads  # it answered the edit
        # A model name it knows nothing about (the GGUF path): the chat endpoint.
        assert "messages" in server.seen_payloads[-1]


@check("endpointModel")
async def _endpoint_model(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    with canned_openai() as server:
        await started(p, endpoint=server.url)
        await reloads_on_next_use(p, endpointModel="bigcode/starcoder2-15b-instruct-v0.1")
        payload = server.seen_payloads[-1]
        assert payload["model"] == "bigcode/starcoder2-15b-instruct-v0.1"
        assert "### Instruction" in payload["prompt"]  # a known model: our exact prompt


@check("apiKey")
async def _api_key(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    """Applied live: the next request sends the new key, with no reload."""
    with canned_openai(required_key="right-key") as server:
        await started(p, endpoint=server.url, apiKey="right-key")
        assert "result" in await p.edit()
        backend = p.backend
        await p.change(apiKey="wrong-key")
        refused = await p.edit()
        assert "401" in refused["error"]["message"] and "API key" in refused["error"]["message"]
        await p.change(apiKey="right-key")
        assert "result" in await p.edit()
        assert p.backend is backend  # not reloaded
        assert server.seen_auth[-1] == "Bearer right-key"
        assert "Bearer wrong-key" in server.seen_auth


@check("completionModel")
async def _completion_model(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    await started(p)
    await p.change(completionModel=str(p.model.gguf_q8_path))
    await p.inline()
    host = p.host.server.completion_models
    assert host is not None and host.loaded
    backend = host.get()
    assert isinstance(backend, LlamaCppBackend)
    assert backend.model_path == p.model.gguf_q8_path
    assert p.backend is None  # the edit model was not needed for it


@check("nCtx")
async def _n_ctx(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    await started(p)
    backend = await reloads_on_next_use(p, nCtx=1024)
    assert backend.info.context_length == 1024


@check("nGpuLayers")
async def _n_gpu_layers(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    await started(p)
    backend = await reloads_on_next_use(p, nGpuLayers=0)
    assert isinstance(backend, LlamaCppBackend) and backend.n_gpu_layers == 0


@check("nThreads")
async def _n_threads(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    await started(p)
    backend = await reloads_on_next_use(p, nThreads=1)
    assert isinstance(backend, LlamaCppBackend)
    assert backend._llm.context_params.n_threads == 1


@check("modelsDir")
async def _models_dir(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    """A preset is looked up in this folder (found there: no download)."""
    from model.download import local_gguf_path

    await started(p)
    folder = tmp / "my-models"
    target = local_gguf_path("starcoder2-3b", folder)
    target.parent.mkdir(parents=True)
    target.symlink_to(p.model.gguf_path)
    backend = await reloads_on_next_use(p, model="starcoder2-3b", modelsDir=str(folder))
    assert isinstance(backend, LlamaCppBackend) and backend.model_path == target


@check("fastDecode")
async def _fast_decode(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    pytest.importorskip("transformers")
    await started(p, backend="transformers", model=str(p.model.hf_dir))
    backend = await reloads_on_next_use(p, fastDecode=False)
    assert backend.fast_decode is False  # type: ignore[attr-defined]


@check("maxTokens")
async def _max_tokens(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    await started(p)
    await p.change(maxTokens=5)
    reply = await p.edit()
    assert p.requests[-1].max_tokens == 5
    assert reply["result"]["stats"]["completion_tokens"] <= 5


@check("temperature")
async def _temperature(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    await started(p, maxTokens=24)
    greedy = [(await p.edit())["result"]["text"] for _ in range(2)]
    assert greedy[0] == greedy[1] and p.requests[-1].temperature == 0
    await p.change(temperature=1.5)
    sampled = {(await p.edit()).get("result", {}).get("text") for _ in range(4)}
    assert p.requests[-1].temperature == 1.5 and len(sampled) > 1


@check("speculative")
async def _speculative(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    await started(p)
    await p.edit()
    assert p.requests[-1].draft_source and p.requests[-1].exact_drafts
    await p.change(speculative="always")  # live: which requests draft
    await p.edit()
    assert p.requests[-1].draft_source and not p.requests[-1].exact_drafts
    assert p.backend is not None
    backend = await reloads_on_next_use(p, speculative=False)  # the engine's set-up
    assert isinstance(backend, LlamaCppBackend) and not backend.speculative
    assert p.requests[-1].draft_source is None and not backend.exact_drafts


@check("contextTokens")
async def _context_tokens(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    await started(p)
    await p.edit()
    assert "import os" in p.requests[-1].prompt
    await p.change(contextTokens=0)
    await p.edit()
    assert "import os" not in p.requests[-1].prompt


@check("requestTimeout")
async def _request_timeout(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    slow_engine(mp, 0.05)
    await started(p, maxTokens=400)
    await p.change(requestTimeout=1)
    started_at = time.monotonic()
    reply = await p.edit()
    assert "requestTimeout" in reply["error"]["message"], reply
    assert time.monotonic() - started_at < 8
    assert p.requests[-1].timeout_s == 1
    await p.change(requestTimeout=60, maxTokens=4)
    assert "result" in await p.edit()


@check("queueSize")
async def _queue_size(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    slow_engine(mp, 0.05)
    await started(p, maxTokens=40)
    await p.edit()  # loaded
    await p.change(queueSize=1)
    replies = await asyncio.gather(*(p.edit() for _ in range(4)))
    refused = [r for r in replies if "busy" in r.get("error", {}).get("message", "")]
    assert refused and len(refused) < 4, replies


@check("instructionPrefixes")
async def _instruction_prefixes(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    await started(p)
    uri = "file:///tmp/starcoder-settings/prefixes.py"
    p.host.open(uri, "# magic: return the square of x\ndef f(x):\n    return x\n")

    async def titles() -> list[str]:
        reply = await p.host.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 3},
                                                    "end": {"line": 0, "character": 3}},
            "context": {"diagnostics": []}})
        return [a["title"] for a in reply["result"] or []]

    # A text none of the built-in actions has, so only the new prefix can offer it.
    before = await titles()
    assert not any("square of x" in t for t in before), before
    await p.change(instructionPrefixes=["magic:"])
    after = await titles()
    assert "StarCoder: return the square of x" in after, after


@check("inlineCompletion")
async def _inline_completion(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    await started(p)
    await p.inline()
    served = len(await p.completion_history())
    assert served == 1
    await p.change(inlineCompletion=False)
    assert (await p.inline())["items"] == []
    assert len(await p.completion_history()) == served  # not even attempted


@check("completionMaxTokens")
async def _completion_max_tokens(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    await started(p)
    await p.change(completionMaxTokens=3)
    await p.inline()
    assert p.requests[-1].max_tokens <= 3
    assert (await p.completion_history())[-1]["completion_tokens"] <= 3


@check("completionDebounceMs")
async def _completion_debounce(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    await started(p)
    await p.change(completionDebounceMs=400)
    await p.inline()  # triggered automatically (as typing does): debounced
    assert (await p.completion_history())[-1]["debounce_ms"] >= 400


@check("completionTimeBudgetMs")
async def _completion_budget(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    """At the budget the completion stops and shows the whole lines written so far."""
    slow_engine(mp, 0.05)
    await started(p, completionMaxTokens=200)
    await p.change(completionTimeBudgetMs=300)
    started_at = time.monotonic()
    await p.inline()
    entry = (await p.completion_history())[-1]
    assert entry["budget_hit"] is True and time.monotonic() - started_at < 5


@check("loadOnStart")
async def _load_on_start(p: Probe, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    """Read at start-up: the model loads right after initialize, with no request."""
    await started(p, loadOnStart=True)
    for _ in range(200):
        if p.backend is not None:
            break
        await asyncio.sleep(0.05)
    assert p.backend is not None and (await p.status())["state"] == "ready"
    assert p.requests == []


def test_every_server_setting_has_a_check() -> None:
    assert sorted(CHECKS) == SERVER_SETTINGS


@pytest.mark.parametrize("name", SERVER_SETTINGS)
async def test_setting_has_its_documented_effect(
    name: str, probe: Probe, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if name not in CHECKS:
        pytest.fail(f"no check for the documented setting {name}")
    await CHECKS[name](probe, monkeypatch, tmp_path)


@pytest.mark.parametrize("name", SERVER_SETTINGS)
async def test_a_bad_value_warns_and_keeps_the_previous_one(name: str, probe: Probe) -> None:
    field = next(f for f in fields(Settings) if camel_name(f.name) == name)
    bad: Any = [1, 2]  # no setting takes a list of numbers
    await started(probe)
    before = getattr(probe.host.server.settings, field.name)
    await probe.change(**{name: bad})
    await asyncio.sleep(0.05)
    assert getattr(probe.host.server.settings, field.name) == before
    assert any(name in m and "keeping" in m for m in probe.host.shown()), probe.host.shown()
