"""The README's Prefect UI screenshots, taken from what `make demo` left running:

    make demo && .venv/bin/python -m tests.deployments.demo_screenshots [docs/screenshots]

Deployments page (the demo jobs and their schedules), the worker run of demo-products, the Blocks
page (logos served offline), and demo-orders' run form (Table, then Query chosen). Headless
Debian Chromium, as in tests/deployments/test_prefect_ui.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.deployments.browser import chromium, wait_for

LOGOS = "img[src*='/etl-logos/']"


def main(out: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings
    from selenium.webdriver.common.by import By

    from etl_bigquery.devservices import Services

    ui = Services().layout.prefect_api_url.removesuffix("/api")
    assert get_current_settings().api.url, 'run eval "$(.venv/bin/etl services env)" first'
    with get_client(sync_client=True) as client:
        deployments = {d.name: d for d in client.read_deployments()}
        runs = [
            r for r in client.read_flow_runs(limit=100)
            if r.deployment_id == deployments["demo-products"].id and r.state_name == "Completed"
        ]  # fmt: skip

    def body(driver) -> str:
        return driver.find_element(By.TAG_NAME, "body").text

    def logos_loaded(driver) -> bool:
        images = driver.find_elements(By.CSS_SELECTOR, LOGOS)
        script = "return arguments[0].complete && arguments[0].naturalWidth > 0"
        return len(images) >= 2 and all(driver.execute_script(script, i) for i in images)

    out.mkdir(parents=True, exist_ok=True)
    with chromium() as driver:
        driver.set_window_size(1400, 800)
        driver.get(f"{ui}/deployments")
        wait_for(driver, lambda d: all(n in body(d) for n in deployments), "the deployments")
        driver.save_screenshot(str(out / "deployments.png"))
        driver.set_window_size(1400, 1000)
        driver.get(f"{ui}/runs/flow-run/{runs[0].id}")
        wait_for(driver, lambda d: "submitting flow run" in body(d), "the worker's run")
        driver.save_screenshot(str(out / "flow-run.png"))
        driver.get(f"{ui}/blocks")
        wait_for(driver, logos_loaded, "the block logos")
        driver.save_screenshot(str(out / "blocks.png"))
        driver.get(f"{ui}/deployments/deployment/{deployments['demo-orders'].id}/run")
        wait_for(driver, lambda d: "Cursor Column" in body(d), "the run form")
        driver.set_window_size(1400, 2700)
        driver.save_screenshot(str(out / "run-form.png"))
        driver.set_window_size(1400, 1000)
        driver.find_element(By.XPATH, "//button[normalize-space()='Query']").click()
        wait_for(driver, lambda d: "One SELECT statement" in body(d), "the Query field")
        driver.execute_script(
            "[...document.querySelectorAll('.schema-form-property__label')]"
            ".find(l => l.textContent.trim() === 'Source').scrollIntoView()"
        )
        driver.save_screenshot(str(out / "run-form-query.png"))
    print(f"Screenshots of {ui} in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
