"""`lifeboat test report RUN_OR_REPORT_ID [--json FILE] [--html FILE]` and `lifeboat test
verify-report FILE [--public-key PEM_FILE]`: a bubble test run's signed report, downloaded and
checked offline (verifier's `GET /v1/test-reports/{id}` and `GET /v1/signing-key`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from lifeboat_cli.verbs._client import (
    DEFAULT_TOKEN,
    Token,
    call,
    console,
    describe_error,
    errors,
    fail,
    show,
)

VerifierUrl = Annotated[
    str, typer.Option("--verifier-url", envvar="LIFEBOAT_VERIFIER_URL", help="Verifier URL")
]
DEFAULT_VERIFIER_URL = "http://127.0.0.1:8704"
ENV_HINT = "LIFEBOAT_VERIFIER_URL"

CHECK_COLUMNS = [
    ("check", lambda c: c["name"]),
    ("kind", lambda c: c["kind"]),
    ("target", lambda c: c["target"]),
    ("verdict", lambda c: "passed" if c["passed"] else "FAILED"),
    ("attempts", lambda c: c["attempts"]),
    ("seconds", lambda c: f"{c['duration_seconds']:.1f}"),
    ("reason", lambda c: c.get("reason")),
]


def _download(base_url: str, path: str, token: str, params: dict[str, str]) -> bytes:
    import httpx  # lazily: `lifeboat --help` and other verbs start without it

    url = f"{base_url.rstrip('/')}{path}"
    try:
        response = httpx.get(
            url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
    except httpx.TransportError as exc:
        fail(
            f"cannot reach {base_url} ({type(exc).__name__}); is the service running "
            f"(`lifeboat up`)? Point elsewhere with {ENV_HINT}."
        )
    if response.status_code >= 400:
        fail(f"{response.status_code}: {describe_error(response)}")
    return response.content


def report(
    run_or_report_id: Annotated[str, typer.Argument(help="A report id, or its run's id")],
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the signed JSON document here")
    ] = None,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Write the HTML page here")
    ] = None,
    verifier_url: VerifierUrl = DEFAULT_VERIFIER_URL,
    token: Token = DEFAULT_TOKEN,
) -> None:
    """Download a bubble test run's signed report (the JSON document, as signed, and/or its HTML
    page) and print its verdict and checks."""
    path = f"/v1/test-reports/{run_or_report_id}"
    document = _download(verifier_url, path, token, {})
    if json_file is not None:
        json_file.write_bytes(document)
    if html_file is not None:
        html_file.write_bytes(_download(verifier_url, path, token, {"format": "html"}))
    data: dict[str, Any] = json.loads(document)["report"]
    e = data["evidence"]
    rto = "-" if e["rto_seconds"] is None else f"{e['rto_seconds']:.1f} s"
    rpo = "-" if e["rpo_seconds"] is None else f"{e['rpo_seconds']:.1f} s"
    console.print(
        f"report {data['report_id']}: run {e['run_id']} of plan {e['plan_id']} "
        f"{'[green]PASSED[/]' if e['passed'] else '[red]FAILED[/]'}; CP {e['cp_id'] or '-'} "
        f"({e['cp_taken_at'] or '-'}); RTO {rto}, RPO {rpo}; started by {e['started_by']}; "
        f"cleanup {'complete' if e['cleanup_ok'] else 'INCOMPLETE'}",
        highlight=False,
    )
    show(e["checks"], CHECK_COLUMNS, as_json=False, title="Checks")
    for what, target in (("JSON", json_file), ("HTML", html_file)):
        if target is not None:
            console.print(f"{what} written to {target}", highlight=False)


def verify_report(
    file: Annotated[Path, typer.Argument(help="A signed report (JSON) downloaded earlier")],
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="PEM file of the signing key (default: the deployment's, from the API)",
        ),
    ] = None,
    verifier_url: VerifierUrl = DEFAULT_VERIFIER_URL,
    token: Token = DEFAULT_TOKEN,
) -> None:
    """Check that a report is exactly what the deployment signed: prints OK and the key's
    fingerprint, or names what fails (bad signature, unknown key, malformed) and exits 1."""
    # Lazily: the verifier's own verification code, loaded only by this command.
    from lifeboat_verifier.adapters.signing import (
        ReportVerificationError,
        load_public_key,
        verify_document,
    )

    if public_key is not None:
        try:
            key = load_public_key(public_key.read_bytes())
        except (OSError, ValueError) as exc:
            fail(f"--public-key {public_key}: {exc}")
        source = str(public_key)
    else:
        answer = call("GET", verifier_url, "/v1/signing-key", token, env_hint=ENV_HINT)
        try:
            key = load_public_key(answer["public_key_pem"])
        except (KeyError, TypeError, ValueError) as exc:
            fail(f"{verifier_url}/v1/signing-key: not a public key ({exc})")
        source = f"{verifier_url} (deployment key)"
    try:
        document = json.loads(file.read_bytes())
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}")
    except ValueError as exc:
        _failed(file, "malformed", f"not JSON ({exc})")
    try:
        checked = verify_document(document, key)
    except ReportVerificationError as exc:
        _failed(file, exc.kind, str(exc))
    e = checked.evidence
    console.print(
        f"OK: {file} is report {checked.report_id} as signed by "
        f"{document['signature']['key_fingerprint']} ({source}); issued {checked.issued_at} "
        f"by {checked.issuer}: run {e.run_id} of plan {e.plan_id} "
        f"{'passed' if e.passed else 'FAILED'}",
        highlight=False,
    )


def _failed(file: Path, kind: str, detail: str) -> None:
    errors.print(f"[red]verification FAILED[/]: {file}: {kind}: {detail}", highlight=False)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("verify-report")(verify_report)
