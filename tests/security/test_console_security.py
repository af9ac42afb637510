"""The web console's trust boundary, against the RUNNING console (uvicorn on a free port, the
session's Prefect server behind it), with raw HTTP and in headless Chromium:

- a request naming a host the console does not answer to gets 403 (DNS rebinding: a hostile
  name pointed at 127.0.0.1 still sends its own Host);
- a state-changing request from another origin gets 403, with a raw client and from a real page
  on another origin in Chromium; a form without the console's token gets 403; the API takes
  JSON only;
- every response carries the security headers, and no page has inline script;
- `etl console` on an address beyond loopback refuses to start without a credential, and with
  one, nothing is reached without it (401 for the API, the login page for a browser), the token
  works as a bearer header and through the login form, and so does the Prefect server's
  basic-auth string.
"""

from __future__ import annotations

import contextvars
import html
import http.server
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, unavailable
from tests.deployments import browser
from tests.integration.cli_helpers import ETL, etl

TOKEN = "console-token-5d0c9e1b7a"
CROSS_ORIGIN = re.compile(r"^Cross-origin request refused: ")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("console-project")
    (folder / "prefect.yaml").write_text("name: sec\nprefect-version: 3.8.8\ndeployments: []\n")
    return folder


@pytest.fixture(scope="module")
def console(services, project) -> Iterator[str]:
    """The console app served by uvicorn in this process (loopback, no credential: the default
    of `etl console`)."""
    import uvicorn

    from etl_bigquery.ui_extension.app import create_app
    from etl_bigquery.ui_extension.security import ConsoleSecurity

    port = free_port()
    app = create_app(project / "prefect.yaml", security=ConsoleSecurity(port=port))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=contextvars.copy_context().run, args=(server.run,),
                              daemon=True)  # fmt: skip
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the console did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def said(answer: httpx.Response) -> str:
    """The refusal's sentence: the JSON error, or the page's text."""
    if answer.headers.get("content-type", "").startswith("application/json"):
        return answer.json()["error"]
    return html.unescape(answer.text)


def _token_and_cookies(client: httpx.Client, url: str) -> str:
    page = client.get(f"{url}/jobs", timeout=120)
    assert page.status_code == 200, page.text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


# -- hosts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/api/connections/any/preview?table=t", "/health"])
def test_a_foreign_host_header_gets_403_on_every_path(console, path):
    answer = httpx.get(f"{console}{path}", headers={"Host": "rebound.attacker.example"})
    assert answer.status_code == 403, answer.text
    assert "does not answer to the host 'rebound.attacker.example'" in said(answer)


def test_the_console_answers_to_its_loopback_names(console):
    port = console.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert httpx.get(f"{console}/health", headers={"Host": host}).status_code == 200


# -- same origin -------------------------------------------------------------------------------


def test_a_cross_origin_post_gets_403_even_with_the_cookie_and_token(console):
    with httpx.Client() as client:
        token = _token_and_cookies(client, console)
        for origin_header in (
            {"Origin": "http://127.0.0.1:1"},
            {"Referer": "http://evil.example/x"},
        ):
            answer = client.post(
                f"{console}/jobs/victim/delete", data={"drop_table": "on", "csrf_token": token},
                headers=origin_header, follow_redirects=False,
            )  # fmt: skip
            assert answer.status_code == 403, answer.text
            assert "Cross-origin request refused" in said(answer)


def test_a_form_without_the_token_gets_403_and_with_it_reaches_the_action(console):
    with httpx.Client() as client:
        token = _token_and_cookies(client, console)
        same = {"Origin": console}
        refused = client.post(f"{console}/jobs/no-such-job/pause", headers=same,
                              follow_redirects=False)  # fmt: skip
        assert refused.status_code == 403
        assert "security token is missing or stale" in said(refused)
        stale = client.post(
            f"{console}/jobs/no-such-job/pause", headers=same,
            data={"csrf_token": "x" + token[1:]}, follow_redirects=False,
        )  # fmt: skip
        assert stale.status_code == 403
        # The token: the request passes the security layer and reaches the action, which
        # answers as the CLI does (the job does not exist).
        passed = client.post(f"{console}/jobs/no-such-job/pause", headers=same,
                             data={"csrf_token": token}, follow_redirects=False)  # fmt: skip
        assert passed.status_code == 303, passed.text
        assert "error=" in passed.headers["location"]


def test_a_program_may_call_the_json_api_but_not_post_forms(console):
    """No Origin, Referer or cookie: a program, not a browser. JSON it may send (a page cannot
    send JSON across origins without a CORS preflight, which the console never grants)."""
    body = {"name": "x", "connection": "c", "table": "t", "destination": "d", "columns": []}
    review = httpx.post(f"{console}/api/review", json=body)
    assert review.status_code in (200, 400), review.text  # reached the wizard's review
    assert "error" not in review.json() or "token" not in review.json()["error"]
    as_form = httpx.post(f"{console}/api/review", data=body)
    assert as_form.status_code == 403
    assert as_form.json() == {
        "error": "The console's API takes JSON only; send Content-Type: application/json."
    }
    form_elsewhere = httpx.post(f"{console}/jobs/no-such-job/pause", data={"x": "1"},
                                follow_redirects=False)  # fmt: skip
    assert form_elsewhere.status_code == 403


def test_no_cors_is_ever_granted(console):
    preflight = httpx.options(
        f"{console}/api/review",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )  # fmt: skip
    assert "access-control-allow-origin" not in preflight.headers


# -- headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", "/jobs", "/connections", "/jobs/new", "/health", "/connections/new?kind=files",
     "/jobs?health=failed&schedule=manual", "/?status=failed&status=running&page=2"],
)  # fmt: skip
def test_every_response_carries_the_security_headers_and_pages_have_no_inline_script(console, path):
    answer = httpx.get(f"{console}{path}", timeout=120)
    assert answer.status_code == 200, answer.text
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert answer.headers["x-frame-options"] == "DENY"
    cookie = answer.headers.get("set-cookie", "")
    assert "SameSite=Strict" in cookie and "HttpOnly" in cookie
    if answer.headers["content-type"].startswith("text/html"):
        assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), "an inline script"
        assert not re.search(r"\son[a-z]+\s*=", answer.text), "an inline event handler"
        assert " style=" not in said(answer)


# -- in a real browser -------------------------------------------------------------------------


@pytest.fixture()
def attacker_page(console) -> Iterator[str]:
    """A page on another origin (another port: same site, so SameSite cookies would even be
    sent) that posts a form to the console as soon as it loads."""
    page = f"""<!doctype html><html><body>
<form id="f" method="post" action="{console}/jobs/victim/delete">
<input name="drop_table" value="on"><input name="csrf_token" value="guessed"></form>
<script>document.getElementById('f').submit();</script></body></html>""".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def test_a_page_on_another_origin_posting_a_form_gets_403_in_chromium(console, attacker_page):
    if reason := browser.missing():
        unavailable(f"headless Chromium cannot run: {reason}")
    from selenium.webdriver.common.by import By

    with browser.chromium() as driver:
        driver.get(f"{console}/jobs")  # the operator has the console open: its cookie is set
        assert driver.get_cookies(), "the console set no cookie"
        driver.get(attacker_page)
        shown = browser.wait_for(
            driver, lambda d: "/jobs/victim/delete" in d.current_url
            and d.find_elements(By.CSS_SELECTOR, ".flash.error"), "the refusal",
        )[0].text  # fmt: skip
        assert shown.startswith("Cross-origin request refused: "), shown
        # The console's own page in the same browser still works: its forms carry the token.
        driver.get(f"{console}/jobs")
        token = driver.execute_script(
            "return document.querySelector('meta[name=csrf-token]').content"
        )
        assert token and len(token) > 20


# -- beyond loopback: a credential ---------------------------------------------------------------


def _start(port: int, *args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [ETL, "console", "--port", str(port), *args], cwd=cwd, env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def _wait_listening(process: subprocess.Popen, url: str, host: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            httpx.get(f"{url}/health", headers={"Host": host}, timeout=2)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the console did not start"
            time.sleep(0.3)


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def test_a_console_beyond_loopback_refuses_to_start_without_a_credential(services, project):
    env = {"ETL_CONSOLE_TOKEN": "", "PREFECT_API_AUTH_STRING": ""}
    result = etl("console", "--host", "0.0.0.0", "--port", str(free_port()), env=env, cwd=project)
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "Error: the console would listen on 0.0.0.0, beyond this machine, without a "
        "credential; set ETL_CONSOLE_TOKEN, pass --credential-block NAME (a Prefect Secret "
        "block) or set PREFECT_API_AUTH_STRING, or listen on 127.0.0.1."
    ), result.stderr


@pytest.fixture()
def guarded_console(services, project) -> Iterator[tuple[str, str]]:
    """`etl console --host 0.0.0.0` with a token, answering to the name console.test (reached
    here through 127.0.0.1 with that Host header: no traffic leaves the machine)."""
    port = free_port()
    process = _start(port, "--host", "0.0.0.0", "--allowed-host", "console.test",
                     env={"ETL_CONSOLE_TOKEN": TOKEN}, cwd=project)  # fmt: skip
    url, host = f"http://127.0.0.1:{port}", f"console.test:{port}"
    try:
        _wait_listening(process, url, host)
        yield url, host
    finally:
        _stop(process)


def test_without_the_credential_nothing_is_reached(guarded_console):
    url, host = guarded_console
    with httpx.Client(headers={"Host": host}) as client:
        page = client.get(f"{url}/jobs", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/jobs"
        api = client.get(f"{url}/api/connections/any/schemas")
        assert api.status_code == 401
        assert api.json()["error"].startswith("Sign in first: ")
        wrong = client.get(f"{url}/api/connections/any/schemas",
                           headers={"Authorization": "Bearer not-the-token-at-all"})  # fmt: skip
        assert wrong.status_code == 401
    # A program's JSON call (no cookie, no Origin) passes the same-origin checks, not this one.
    posted = httpx.post(f"{url}/jobs/victim/delete", json={}, headers={"Host": host},
                        follow_redirects=False)  # fmt: skip
    assert posted.status_code == 401
    with httpx.Client(headers={"Host": host}) as client:
        # Its loopback names are not enough to skip the credential either.
        port = url.rsplit(":", 1)[1]
        local = httpx.get(f"{url}/jobs", headers={"Host": f"127.0.0.1:{port}"},
                          follow_redirects=False)  # fmt: skip
        assert local.status_code == 303


def test_the_token_opens_the_api_and_the_login_form_a_session(guarded_console):
    url, host = guarded_console
    bearer = httpx.get(f"{url}/jobs", headers={"Host": host, "Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200 and "<h1>Jobs</h1>" in bearer.text
    with httpx.Client(headers={"Host": host}) as client:
        login = client.get(f"{url}/login?next=/jobs")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
        origin = {"Origin": f"http://{host}"}
        form = {"csrf_token": token, "next": "/jobs"}
        bad = client.post(f"{url}/login", headers=origin, follow_redirects=False,
                          data={**form, "password": "wrong"})  # fmt: skip
        assert bad.status_code == 303 and bad.headers["location"].startswith("/login?error=")
        good = client.post(f"{url}/login", headers=origin, follow_redirects=False,
                           data={**form, "password": TOKEN})  # fmt: skip
        assert good.status_code == 303 and good.headers["location"] == "/jobs"
        session = good.headers["set-cookie"]
        assert "HttpOnly" in session and "SameSite=Strict" in session
        assert client.get(f"{url}/jobs").status_code == 200
        out = client.post(f"{url}/logout", headers=origin, data={"csrf_token": token},
                          follow_redirects=False)  # fmt: skip
        assert out.status_code == 303
        assert client.get(f"{url}/jobs", follow_redirects=False).status_code == 303


def test_the_prefect_servers_basic_auth_string_is_the_same_credential(services, project):
    port = free_port()
    process = _start(port, "--host", "0.0.0.0", "--allowed-host", "console.test",
                     env={"ETL_CONSOLE_TOKEN": "", "PREFECT_API_AUTH_STRING": "admin:pw-7Kq2x"},
                     cwd=project)  # fmt: skip
    url, host = f"http://127.0.0.1:{port}", f"console.test:{port}"
    try:
        _wait_listening(process, url, host)
        anonymous = httpx.get(f"{url}/api/connections/x/schemas", headers={"Host": host})
        assert anonymous.status_code == 401
        basic = httpx.get(f"{url}/jobs", headers={"Host": host}, auth=("admin", "pw-7Kq2x"))
        assert basic.status_code == 200, basic.text
        wrong = httpx.get(f"{url}/jobs", headers={"Host": host}, auth=("admin", "nope"),
                          follow_redirects=False)  # fmt: skip
        assert wrong.status_code == 303
    finally:
        _stop(process)


def test_the_credential_can_come_from_a_prefect_secret_block(services, project):
    from prefect.blocks.system import Secret

    block = f"console-token-{free_port()}"
    Secret(value=TOKEN).save(block, overwrite=True)
    port = free_port()
    process = _start(port, "--host", "0.0.0.0", "--allowed-host", "console.test",
                     "--credential-block", block,
                     env={"ETL_CONSOLE_TOKEN": "", "PREFECT_API_AUTH_STRING": ""},
                     cwd=project)  # fmt: skip
    url, host = f"http://127.0.0.1:{port}", f"console.test:{port}"
    try:
        _wait_listening(process, url, host)
        assert (
            httpx.get(f"{url}/api/connections/x/schemas", headers={"Host": host}).status_code == 401
        )
        with_token = {"Host": host, "Authorization": f"Bearer {TOKEN}"}
        bearer = httpx.get(f"{url}/jobs", headers=with_token, timeout=120)
        assert bearer.status_code == 200, bearer.text
    finally:
        _stop(process)


# -- the wizard's source calls -------------------------------------------------------------------


def test_the_wizards_source_calls_refuse_other_origins_escapes_and_writes(console, tmp_path):
    """The wizard's calls for files and queries (issue 20) keep the rules: another origin gets
    403 even with the cookie and token; a prefix or file outside the connection's folder is
    refused with a sentence and nothing of it is shown; a query that writes never runs."""
    import sqlite3
    import uuid

    from etl_bigquery.blocks import FileConnection, SqlConnection

    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "ok.csv").write_text("id\n1\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.csv").write_text("secret\nTOPSECRET-wizard\n")
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES (1)")
    files, sql = f"sec-files-{uuid.uuid4().hex[:6]}", f"sec-sql-{uuid.uuid4().hex[:6]}"
    FileConnection(type="local", bucket=str(tmp_path / "drop")).save(files, overwrite=True)
    SqlConnection(type="sqlite", database=str(db)).save(sql, overwrite=True)
    try:
        calls = {
            f"/api/connections/{files}/files": {"prefix": "", "glob": "*"},
            f"/api/connections/{files}/detect": {"path": "ok.csv"},
            f"/api/connections/{sql}/source": {"source": {"kind": "query", "query": "SELECT 1"}},
        }
        with httpx.Client() as client:
            token = _token_and_cookies(client, console)
            for path, body in calls.items():
                answer = client.post(f"{console}{path}", json=body, headers={
                    "Origin": "http://evil.example", "X-CSRF-Token": token})  # fmt: skip
                assert answer.status_code == 403, (path, answer.text)
                same = client.post(f"{console}{path}", json=body, headers={
                    "Origin": console, "X-CSRF-Token": token})  # fmt: skip
                assert same.status_code == 200, (path, same.text)

        escapes = {
            f"/api/connections/{files}/files": {"prefix": "../outside/", "glob": "*"},
            f"/api/connections/{files}/detect": {"path": "../outside/secret.csv"},
            f"/api/connections/{files}/source": {"source": {
                "kind": "files", "prefix": "../outside/", "format": "csv"}},
        }  # fmt: skip
        for path, body in escapes.items():
            answer = httpx.post(f"{console}{path}", json=body, timeout=60)
            assert answer.status_code == 400, (path, answer.text)
            assert "'..' segment" in answer.json()["error"], answer.text
            assert "TOPSECRET" not in answer.text and 'secret.csv"' not in answer.text

        refusals = {
            "DELETE FROM t": "a source query must be one SELECT",
            "SELECT 1; DELETE FROM t": "several statements",
            "SELECT * INTO u FROM t": "SELECT ... INTO creates a table",
        }
        for query, sentence in refusals.items():
            body = {"source": {"kind": "query", "query": query}}
            answer = httpx.post(f"{console}/api/connections/{sql}/source", json=body, timeout=60)
            assert answer.status_code == 400 and sentence in answer.json()["error"], answer.text
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    finally:
        FileConnection.delete(files)
        SqlConnection.delete(sql)
