"""The `voka` command line and the client library under it, against the mesh through Envoy's
native gRPC: `--help` everywhere, then a scripted session (login, translate, say, transcribe
with the Piper-voiced WAV it said, chat, tasks, meetings, logout) run as the installed console
script, the way a user runs it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner

from tests.e2e.conftest import sign_in
from tests.services.speech.wer import wer
from tests.services.vision.conftest import cat_photo, hand_photo
from tools.mesh import Mesh
from voka.speech.v1 import speech_pb2
from voka_client import Client
from voka_client.cli import cli

pytestmark = pytest.mark.integration
VOKA = Path(sys.executable).with_name("voka")  # the console script scripts/bootstrap.sh installs
VOICE = "voices/piper-en-us-joe-medium"
TEXT = "Please send the quarterly report to the finance team before Friday."
START = "2030-01-15T10:00:00Z"


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[list[str]]:
    for name, command in sorted(group.commands.items()):
        yield [*prefix, name]
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`voka ARGS`, with the environment given and nothing of the test's own but PATH/HOME."""
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.run(
        [str(VOKA), *args],
        env={**base, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"voka {done.args[1:]}: {done.stderr}"
    return done.stdout


def documents(output: str) -> list[dict[str, Any]]:
    """`--json` output: one JSON document per line."""
    return [json.loads(line) for line in output.splitlines()]


def account(rest: httpx.Client) -> tuple[str, str]:
    """A fresh account registered over REST: its username and password."""
    name, password = f"cli{uuid.uuid4().hex[:10]}", f"pw-{uuid.uuid4().hex}"
    body = {"username": name, "email": f"{name}@example.com", "password": password}
    assert rest.post("/api/v1/auth/register", json=body).status_code == 200
    return name, password


def test_help_everywhere_from_the_installed_script():
    assert VOKA.is_file(), f"{VOKA} is missing: scripts/bootstrap.sh installs clients/python"
    top = ok(run({}, "--help"))  # no PYTHONPATH: the installed package carries the stubs
    assert "Usage: voka [OPTIONS] COMMAND" in top
    paths = list(command_paths(cli))
    assert [p for p in paths if len(p) == 1] == [
        ["chat"], ["login"], ["logout"], ["meetings"], ["say"], ["tasks"],
        ["transcribe"], ["translate"], ["vision"], ["voices"], ["whoami"],
    ]  # fmt: skip
    for name in ("translate", "transcribe", "chat", "tasks", "meetings", "login"):
        assert name in top
    runner = CliRunner()
    for path in paths:
        shown = runner.invoke(cli, [*path, "--help"], prog_name="voka")
        assert shown.exit_code == 0, (path, shown.output)
        assert f"Usage: voka {' '.join(path)}" in shown.output
        if not isinstance(cli.commands[path[0]], click.Group) or len(path) > 1:
            assert "--json" in shown.output, path


def test_scripted_session(mesh: Mesh, rest: httpx.Client, tmp_path: Path):
    name, password = account(rest)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "VOKA_URL": mesh.rest_url}

    # login: the password from the environment, tokens (not the password) in a private file
    logged = ok(run({**env, "VOKA_PASSWORD": password}, "login", "--username", name))
    assert f"as {name} (users/" in logged
    saved = tmp_path / "config" / "voka" / "credentials.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert password not in saved.read_text()
    # an access token past its time is refreshed by the next command, and the new pair saved
    stored = json.loads(saved.read_text())
    stored["tokens"]["access_expire_time"] = 0
    saved.write_text(json.dumps(stored))
    assert ok(run(env, "whoami")).startswith(f"{name} (users/")
    renewed = json.loads(saved.read_text())["tokens"]
    assert renewed["refresh_token"] != stored["tokens"]["refresh_token"]
    assert renewed["access_expire_time"] > 0
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600

    translated = json.loads(
        ok(run(env, "translate", "Hello, how are you?", "--to", "es", "--json"))
    )
    assert translated["translatedText"].startswith("Hola")
    assert translated["sourceLanguageCode"] == "en"

    wav = tmp_path / "report.wav"
    said = ok(run(env, "say", TEXT, "--voice", VOICE, "-o", str(wav)))
    assert "audio/wav" in said
    assert wav.read_bytes()[:4] == b"RIFF"

    heard = run(env, "transcribe", str(wav), "--language", "en", "--json")
    job = json.loads(ok(heard))
    assert job["state"] == "TRANSCRIPTION_STATE_SUCCEEDED"
    assert job["name"].startswith("transcriptions/")
    assert wer(TEXT, job["result"]["text"]) <= 0.1, job["result"]["text"]
    assert "Transcribing report.wav" in heard.stderr  # the progress bar's label
    quiet = run(env, "transcribe", str(wav), "--language", "en", "--no-progress")
    assert wer(TEXT, ok(quiet)) <= 0.1, quiet.stdout
    assert quiet.stderr == ""

    streamed = ok(run(env, "chat", "Say hello.", "--max-tokens", "8"))
    assert streamed.strip()
    # without MESSAGE: one turn per line of stdin, in one conversation
    turns = ok(run(env, "--json", "chat", "--max-tokens", "6", stdin="Hi.\nAnd again?\n"))
    first, second = documents(turns)
    assert first["conversation"].startswith("conversations/")
    assert second["conversation"] == first["conversation"]
    assert first["text"]
    assert first["usage"]["outputTokens"] > 0

    submitted = ok(run(env, "tasks", "submit", "math.add", "--arg", "a=2", "--arg", "b=3"))
    task_name = submitted.split("\t")[0]
    assert task_name.startswith("tasks/")
    watched = documents(ok(run(env, "tasks", "watch", task_name, "--json")))
    assert watched[-1]["state"] == "TASK_STATE_SUCCEEDED"
    assert watched[-1]["result"] == 5
    args = '{"a": 4, "b": 5}'
    waited = json.loads(
        ok(run(env, "tasks", "submit", "math.add", "--args", args, "--wait", "--json"))
    )
    assert waited["result"] == 9
    listed = ok(run(env, "tasks", "list", "--function", "math.add"))
    assert task_name in listed

    token = json.loads(saved.read_text())["tokens"]["access_token"]
    meeting = {"title": "Kick-off", "startTime": START}
    made = rest.post("/api/v1/meetings", json=meeting, headers={"authorization": f"Bearer {token}"})
    assert made.status_code == 200, made.text
    meetings = documents(ok(run(env, "meetings", "list", "--json")))
    assert [(m["name"], m["title"]) for m in meetings] == [
        (made.json()["meeting"]["name"], "Kick-off")
    ]

    assert "1 session ended" in ok(run(env, "logout"))
    assert not saved.exists()
    refused = run(env, "whoami")
    assert refused.returncode == 1
    assert "UNAUTHENTICATED" in refused.stderr


def test_api_key_from_the_environment(mesh: Mesh, rest: httpx.Client):
    headers = sign_in(rest)
    created = rest.post("/api/v1/users/me/api-keys", json={"displayName": "cli"}, headers=headers)
    assert created.status_code == 200, created.text
    env = {"VOKA_URL": mesh.rest_url, "VOKA_API_KEY": created.json()["secret"]}
    me = json.loads(ok(run(env, "whoami", "--json")))
    assert me["name"].startswith("users/")
    assert me["username"].startswith("user")


def test_library_follows_a_transcription_and_streams_a_reply(
    mesh: Mesh, rest: httpx.Client, tmp_path: Path
):
    name, password = account(rest)
    with Client(mesh.rest_url, username=name, password=password) as voka:
        audio = voka.speech.synthesize(TEXT, voice=VOICE)
        assert audio.content_type == "audio/wav"
        wav = tmp_path / "report.wav"
        wav.write_bytes(audio.data)
        states: list[int] = []
        job = voka.speech.transcribe_file(
            wav, language="en", on_progress=lambda step: states.append(step.state)
        )
        assert states[-1] == speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED
        assert len(states) >= 2  # at least the job as queued and as finished
        assert wer(TEXT, job.result.text) <= 0.1
        assert [t.name for t in voka.speech.iter_transcriptions()] == [job.name]

        reply = voka.assistant.stream_reply("Say hello.", max_output_tokens=8)
        deltas = list(reply)
        assert deltas
        assert reply.completed is not None
        assert "".join(deltas) == reply.completed.text
        assert reply.conversation.startswith("conversations/")
        assert [c.name for c in voka.assistant.iter_conversations()] == [reply.conversation]


def test_library_and_cli_analyse_images(mesh: Mesh, rest: httpx.Client, tmp_path: Path) -> None:
    name, password = account(rest)
    with Client(mesh.rest_url, username=name, password=password) as voka:
        cat = voka.vision.analyze_image(cat_photo(), content_type="image/jpeg")
        assert cat.objects[0].label == "Cat"
        assert cat.caption.engine == "composed-from-labels"
        hands = voka.vision.detect_hands(hand_photo())
        (hand,) = hands.hands
        assert len(hand.landmarks) == 21
        assert [a.name for a in voka.vision.iter_analyses()] == [hands.name, cat.name]
        assert voka.vision.get_analysis(cat.name).objects[0].label == "Cat"

    photo = tmp_path / "chelsea.jpg"
    photo.write_bytes(cat_photo())
    config = str(tmp_path / "config")
    runner = CliRunner(env={"VOKA_URL": mesh.rest_url, "XDG_CONFIG_HOME": config})
    logged_in = runner.invoke(cli, ["login", "--username", name, "--password", password])
    assert logged_in.exit_code == 0, logged_in.output
    shown = runner.invoke(cli, ["vision", "analyze", str(photo), "--json"])
    assert shown.exit_code == 0, shown.output
    (analysis,) = documents(shown.output)
    assert analysis["objects"][0]["label"] == "Cat"
    assert analysis["caption"]["engine"] == "composed-from-labels"
    listed = runner.invoke(cli, ["vision", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines()[0].startswith(analysis["name"])
