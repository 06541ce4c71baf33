"""The token: required everywhere but /health, by header or (GET only) query; binding rules; the CLI's refusals."""

from __future__ import annotations

import pytest

from serve_helpers import AUTH, TOKEN


@pytest.fixture()
def client(settings, client_for):
    from detectkit.serve import create_app

    return client_for(create_app(settings))


PROTECTED_GETS = ["/api/info", "/api/faces/people", "/api/streams", "/", "/enrol", "/static/app.js", "/docs", "/docs/files/swagger-ui.css",
                  "/openapi.json", "/streams/x.mjpg"]


def test_health_needs_no_token(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", PROTECTED_GETS)
def test_everything_else_needs_the_token(client, path):
    missing = client.get(path)
    wrong = client.get(path, headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
    wrong_query = client.get(f"{path}?token=nope")
    for response in (missing, wrong, wrong_query):
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.get(path, headers=AUTH).status_code in (200, 404, 503), path  # 404: no stream x


def test_a_query_token_works_for_get_only(client, face_jpeg):
    assert client.get(f"/api/info?token={TOKEN}").status_code == 200
    posted = client.post(f"/api/faces/identify?token={TOKEN}", files={"photo": ("a.jpg", face_jpeg, "image/jpeg")})
    assert posted.status_code == 401  # a form on another site cannot post with a header
    assert client.delete(f"/api/faces/people/x?token={TOKEN}").status_code == 401


def test_other_schemes_are_refused(client):
    assert client.get("/api/info", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get("/api/info", headers={"Authorization": TOKEN}).status_code == 401


def test_a_browser_without_the_token_gets_the_page_that_asks_for_it(client):
    response = client.get("/enrol", headers={"Accept": "text/html"})
    assert response.status_code == 401 and response.headers["content-type"].startswith("text/html")
    assert 'type="password"' in response.text and "sessionStorage" in response.text
    nonce = response.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in response.text
    assert TOKEN not in response.text


def test_pages_carry_security_headers_and_the_token_in_their_asset_links(client):
    response = client.get(f"/?token={TOKEN}")
    assert response.status_code == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert f'src="/static/live.js?token={TOKEN}"' in response.text
    assert client.get("/static/../app.py", headers=AUTH).status_code == 404
    assert client.get("/static/nothing.js", headers=AUTH).status_code == 404


def test_token_comparison_is_constant_time():
    import inspect

    from detectkit.serve import auth

    assert "hmac.compare_digest" in inspect.getsource(auth.token_matches)
    assert auth.token_matches(TOKEN, TOKEN) and not auth.token_matches(TOKEN, None) and not auth.token_matches(TOKEN, TOKEN + "x")


def test_short_tokens_are_refused():
    from detectkit.errors import ModelError
    from detectkit.serve import ServeSettings

    with pytest.raises(ModelError, match="at least 16 characters"):
        ServeSettings(token="short")


@pytest.mark.parametrize("host, ok", [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("192.168.1.5", False), ("box.lan", False)])
def test_binding_beyond_loopback_needs_an_explicit_token(host, ok):
    from detectkit.errors import ModelError
    from detectkit.serve import check_bind

    check_bind(host, explicit_token=True)
    if ok:
        check_bind(host, explicit_token=False)
    else:
        with pytest.raises(ModelError, match="--token or DETECTKIT_TOKEN"):
            check_bind(host, explicit_token=False)


def test_cli_refuses_a_public_host_without_a_token(capsys, monkeypatch):
    from detectkit.cli import main

    monkeypatch.delenv("DETECTKIT_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--model", "none"]) == 1
    assert "give the API token yourself" in capsys.readouterr().err


def test_cli_builds_the_app_with_a_token_from_the_environment(monkeypatch, tmp_path):
    from fastapi.testclient import TestClient

    from detectkit.cli import build_parser
    from detectkit.cli.serve import build

    monkeypatch.setenv("DETECTKIT_TOKEN", TOKEN)
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--model", "none", "--gallery", str(tmp_path / "g.db"),
                                      "--face-weights", "hog-face", "--source", "cam=missing.mp4"])
    app, token, given = build(args)
    assert token == TOKEN and given is True
    with TestClient(app) as client:
        info = client.get("/api/info", headers=AUTH).json()
        assert info["streams"] == ["cam"] and info["faces"]["model"].startswith("hog-face@")
        assert (tmp_path / "g.db").is_file()


def test_docs_page_and_its_files_are_served_from_here(client):
    from detectkit.serve.routes_pages import swagger_ui_folder

    page = client.get("/docs", headers=AUTH)
    assert page.status_code == 200
    if swagger_ui_folder() is None:
        pytest.skip("fastapi-offline is not installed: /docs takes Swagger UI from its CDN")
    assert "cdn." not in page.text and f"/docs/files/swagger-ui-bundle.js?token={TOKEN}" in page.text
    script = client.get("/docs/files/swagger-ui-bundle.js", headers=AUTH)
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in script.text
    assert client.get("/docs/files/swagger-ui.css", headers=AUTH).headers["content-type"].startswith("text/css")
    for name in ("index.html", "..%2Fcore.py", "nope.js"):  # only the files the page needs
        assert client.get(f"/docs/files/{name}", headers=AUTH).status_code == 404, name
