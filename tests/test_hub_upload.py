"""Sharing on the Hub: nothing leaves the machine without a token, and the model card says what the model is."""
import pytest

import course_utils.hub_upload as hub_upload
from course_utils.hub_upload import base_model_license, hub_repo_id, is_adapter_folder, model_card, push_folder_to_hub

FAKE_TOKEN = "not-a-real-token-for-tests"


class RecordingApi:
    """Stands in for huggingface_hub.HfApi and records what would have been sent."""

    calls: list = []

    def __init__(self, token=None):
        RecordingApi.calls.append(("init", token))

    def create_repo(self, **kwargs):
        RecordingApi.calls.append(("create_repo", kwargs))
        return f"https://huggingface.co/{kwargs['repo_id']}"

    def upload_folder(self, **kwargs):
        RecordingApi.calls.append(("upload_folder", kwargs))


class ForbiddenApi:
    def __init__(self, *args, **kwargs):
        raise AssertionError("HfApi must not be created without a token")


@pytest.fixture
def saved_model(tmp_path):
    folder = tmp_path / "merged"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


@pytest.fixture
def no_token(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hub_upload, "hub_token", lambda: None)


def test_without_a_token_nothing_is_uploaded_and_the_message_says_why(saved_model, no_token, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", ForbiddenApi)
    assert push_folder_to_hub(saved_model, "someone/ironman", card="card") is None
    assert "nothing was uploaded" in capsys.readouterr().out
    assert not (saved_model / "README.md").exists()


def test_offline_with_a_token_uploads_nothing(saved_model, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub, "HfApi", ForbiddenApi)
    assert push_folder_to_hub(saved_model, "someone/ironman", token=FAKE_TOKEN) is None
    assert "nothing was uploaded" in capsys.readouterr().out


def test_with_a_token_the_card_is_written_and_the_folder_uploaded(saved_model, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    RecordingApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    url = push_folder_to_hub(saved_model, "someone/ironman", card="# card", token=FAKE_TOKEN)
    assert url == "https://huggingface.co/someone/ironman"
    assert (saved_model / "README.md").read_text() == "# card"
    kinds = [kind for kind, _ in RecordingApi.calls]
    assert kinds == ["init", "create_repo", "upload_folder"]
    assert RecordingApi.calls[1][1]["private"] is True
    assert RecordingApi.calls[2][1]["folder_path"] == str(saved_model)
    assert FAKE_TOKEN not in capsys.readouterr().out


def test_a_folder_without_a_saved_model_is_refused(tmp_path, no_token):
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        push_folder_to_hub(tmp_path, "someone/ironman")


def test_model_card_states_base_model_data_and_license():
    card = model_card(
        "someone/Llama-3-Ko-Ironman", "beomi/Llama-3-Open-Ko-8B-Instruct-preview",
        data_description="229 Iron Man persona rows written for the course", data_license="CC BY 4.0",
        summary="Tony Stark persona.",
    )
    header = card.split("---")[1]
    assert "base_model: beomi/Llama-3-Open-Ko-8B-Instruct-preview" in header and "license: llama3" in header
    assert "library_name: transformers" in header
    assert "229 Iron Man persona rows" in card and "CC BY 4.0" in card and "merge_and_unload" in card


def test_unknown_base_models_send_the_reader_to_the_base_model_card():
    assert base_model_license("someone/unknown") == "other"
    card = model_card("a/b", "someone/unknown", "d", "CC BY 4.0", "s", adapter_only=True)
    assert "check its model card" in card and "library_name: peft" in card


def test_without_a_token_the_namespace_is_a_placeholder_and_the_hub_is_not_asked(no_token, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "whoami", lambda *a, **k: pytest.fail("whoami needs a token"))
    assert hub_repo_id("Llama-3-Ko-Ironman") == "your-name/Llama-3-Ko-Ironman"


def test_the_card_says_adapter_or_merged_from_the_folder(tmp_path, saved_model):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    assert is_adapter_folder(adapter) and not is_adapter_folder(saved_model)
    cards = {
        folder.name: model_card("a/b", "beomi/Llama-3-Open-Ko-8B-Instruct-preview", "d", "CC BY 4.0", "s", adapter_only=is_adapter_folder(folder))
        for folder in (adapter, saved_model)
    }
    assert "LoRA adapter only" in cards["adapter"] and "library_name: peft" in cards["adapter"]
    assert "merged into the base model" in cards["merged"] and "library_name: transformers" in cards["merged"]
    assert "LoRA adapter only" not in cards["merged"] and "merged into the base model" not in cards["adapter"]


# ----- Uploading is a choice: size and estimate first, refusals in one sentence (issue 20, item 2) -----

def hub_error(status: int, body: dict, url: str = "https://huggingface.co/api/repos/create"):
    """The error huggingface_hub itself raises for this response (multi-line, with the URL and a help text)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.utils import hf_raise_for_status

    try:
        hf_raise_for_status(httpx2.Response(status, request=httpx2.Request("POST", url), json=body))
    except HfHubHTTPError as error:
        assert "\n" in str(error)  # what the learner would otherwise see
        return error
    raise AssertionError("no error raised")


class RefusingApi(RecordingApi):
    """create_repo answers with the given HTTP status, as the Hub does."""

    status, body = 403, {"error": 'You don\'t have the rights to create a model under the namespace "someone"'}

    def create_repo(self, **kwargs):
        RecordingApi.calls.append(("create_repo", kwargs))
        raise hub_error(self.status, self.body)


def one_sentence(text: str) -> bool:
    return "\n" not in text and text.endswith(".") and text.count(": ") <= 2


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    RecordingApi.calls = []


def test_the_size_and_an_estimate_with_its_assumed_rate_come_before_the_upload(saved_model, online, monkeypatch, capsys):
    import huggingface_hub

    (saved_model / "model.safetensors").write_bytes(b"\0" * 3_000_000)
    plan = hub_upload.upload_plan(saved_model, rate_mb_per_s=1.0)
    assert plan.files == 2 and plan.bytes == 3_000_002 and plan.seconds == pytest.approx(3.0, rel=1e-3)
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    push_folder_to_hub(saved_model, "someone/ironman", token=FAKE_TOKEN)
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert "3.0 MB" in first and "estimate" in first and f"{hub_upload.ASSUMED_UPLOAD_MB_PER_S:g} MB/s" in first
    assert out.index("estimate") < out.index("Uploaded")


def test_a_refused_token_gives_one_sentence_not_the_http_error(saved_model, online, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", RefusingApi)
    with pytest.raises(hub_upload.HubUploadError) as caught:
        push_folder_to_hub(saved_model, "someone/ironman", token=FAKE_TOKEN)
    message = str(caught.value)
    assert one_sentence(message) and "403" in message and "write" in message and "someone/ironman" in message
    assert caught.value.__suppress_context__  # the multi-line HTTP error is not chained into the traceback
    assert [kind for kind, _ in RecordingApi.calls] == ["init", "create_repo"]  # nothing was uploaded


def test_a_taken_name_gives_one_sentence(saved_model, online, monkeypatch):
    import huggingface_hub

    class TakenApi(RefusingApi):
        status, body = 409, {"error": "You already created this model repo"}

    monkeypatch.setattr(huggingface_hub, "HfApi", TakenApi)
    with pytest.raises(hub_upload.HubUploadError) as caught:
        push_folder_to_hub(saved_model, "someone/ironman", token=FAKE_TOKEN)
    assert one_sentence(str(caught.value)) and "already exists" in str(caught.value) and "exist_ok=True" in str(caught.value)
    assert RecordingApi.calls[1][1]["exist_ok"] is False  # an existing repository is not written into unasked


def test_a_read_only_token_is_named_before_anything_is_created(online, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "whoami", lambda token=None: {"name": "someone", "auth": {"accessToken": {"role": "read"}}})
    with pytest.raises(hub_upload.HubUploadError) as caught:
        hub_repo_id("ironman", token=FAKE_TOKEN)
    assert one_sentence(str(caught.value)) and "read-only" in str(caught.value)
    monkeypatch.setattr(huggingface_hub, "whoami", lambda token=None: {"name": "someone", "auth": {"accessToken": {"role": "write"}}})
    assert hub_repo_id("ironman", token=FAKE_TOKEN) == "someone/ironman"


def test_an_invalid_token_gives_one_sentence(online, monkeypatch):
    import huggingface_hub

    def whoami(token=None):
        raise hub_error(401, {"error": "Invalid credentials in Authorization header"}, "https://huggingface.co/api/whoami-v2")

    monkeypatch.setattr(huggingface_hub, "whoami", whoami)
    with pytest.raises(hub_upload.HubUploadError) as caught:
        hub_repo_id("ironman", token=FAKE_TOKEN)
    assert one_sentence(str(caught.value)) and "401" in str(caught.value)


def test_the_command_line_uploads_privately_to_the_named_repository(saved_model, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub_upload, "hub_token", lambda: FAKE_TOKEN)
    RecordingApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    assert hub_upload.main([str(saved_model), "someone/ironman"]) == 0
    assert RecordingApi.calls[1][1]["repo_id"] == "someone/ironman" and RecordingApi.calls[1][1]["private"] is True
    assert hub_upload.main([str(saved_model.parent / "nothing-here"), "someone/ironman"]) == 2
    assert "holds no saved model" in capsys.readouterr().err
