"""Data → Import in a real headless browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from server import Server, cli


def test_upload_a_file_and_see_the_outcome(page: Page, tmp_path: Path) -> None:
    db = tmp_path / "page.db"
    key = cli(db, "workspaces", "create", "w")["api_key"]
    data = tmp_path / "mixed.csv"
    data.write_text(
        "event,timestamp,user_id,properties.paywall_id\n"
        "paywall_viewed,2024-03-15T14:20:00Z,u1,pw\n"
        "paywall_viewed,2024-03-14T14:20:00Z,u2,pw\n"
        "paywall_viewed,2024-03-15,u3,pw\n"
        "paywall_viewed,2024-03-16T14:20:00Z,u4,\n"
    )
    server = Server(db)
    try:
        page.goto(f"{server.url}/app/import")
        expect(page.locator("h1")).to_contain_text("Import")
        page.fill("#key", key)
        page.click("#save-key")
        expect(page.locator("#key-state")).to_have_text("Key saved in this browser.")
        page.set_input_files("#file", str(data))
        page.click("#upload")
        expect(page.locator("#summary")).to_be_visible(timeout=20_000)
        expect(page.locator("#accepted")).to_have_text("2")
        expect(page.locator("#rejected")).to_have_text("2")
        expect(page.locator("#duplicates")).to_have_text("0")
        expect(page.locator("#upload-progress")).to_have_attribute("value", "100")
        expect(page.locator("#first-errors")).to_contain_text("Missing required field: paywall_id")
        expect(page.locator("#first-errors")).to_contain_text("timestamp must be an ISO 8601")
        with page.expect_download() as download:
            page.click("#errors-link")
        errors = Path(download.value.path()).read_text()
        assert "row,reason" in errors.splitlines()[0] and "u3" in errors
        expect(page.locator("#imports tr")).to_have_count(1)
        expect(page.locator("#imports")).to_contain_text("mixed.csv")
        expect(page.locator("#imports")).to_contain_text("completed")
        page.screenshot(path=str(tmp_path / "import-page.png"), full_page=True)
        page.reload()  # the key stays in the browser only, and the list comes back
        expect(page.locator("#key-state")).to_have_text("Key saved in this browser.")
        expect(page.locator("#imports tr")).to_have_count(1)
        drop_file(page, "dropped.csv", "event,timestamp,user_id\nx,2024-03-15T14:20:00Z,u9\n")
        expect(page.locator("#status")).to_have_text("Chosen: dropped.csv")
        page.click("#upload")
        expect(page.locator("#imports tr")).to_have_count(2, timeout=20_000)
        expect(page.locator("#imports tr").first).to_contain_text("dropped.csv")
        expect(page.locator("#accepted")).to_have_text("1")
        expect(page.locator("#errors-link")).to_be_hidden()
    finally:
        server.stop()


def drop_file(page: Page, name: str, content: str) -> None:
    """Drop a file on the page's drop zone, as a user dragging it from their desktop would."""
    transfer = page.evaluate_handle(
        """([name, content]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([content], name, { type: "text/csv" }));
            return transfer;
        }""",
        [name, content],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
