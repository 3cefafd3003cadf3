"""The Users and Accounts pages in a real browser: a coordinator searches as they type, opens a
person, downloads the CSV; an admin, in English, adds an account, links a phone to it and
makes an API token. Screenshots in test-artifacts/."""

from __future__ import annotations

import csv
import io
import re

from tests.web.conftest import PASSWORD, shot, sign_in
from tests.web.test_users import FARMER_ZH, STOPPED, market


async def rows_of(download) -> list[list[str]]:
    path = await download.path()
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(io.StringIO(f.read())))


async def test_search_open_a_user_and_download_the_csv(dash, browser, sqlite_only):
    ids = await market(dash)
    await dash.account("amina", "coordinator")
    page = await browser.new_page(accept_downloads=True, viewport={"width": 1280, "height": 900})
    await sign_in(page, dash.url, "amina")
    await page.click("nav a[href='/admin/users']")
    await page.wait_for_selector("#users")
    assert await page.locator("#users tbody tr").count() == len(ids)
    await shot(page, "users-zh")
    # typing filters the list without a click (htmx), and the address bar keeps the search
    await page.fill("input[name=q]", "王大伯")
    await page.wait_for_function("document.querySelectorAll('#users tbody tr').length === 1")
    row = page.locator("#users tbody tr")
    assert await row.get_attribute("data-id") == str(ids[FARMER_ZH])
    assert "q=" in page.url
    await shot(page, "users-search-zh")
    # the CSV of what is shown: only 王大伯
    async with page.expect_download() as info:
        await page.click("#export-all")
    download = await info.value
    assert re.fullmatch(r"farmchat-users-all-\d{8}-\d{4}\.csv", download.suggested_filename)
    header, *lines = await rows_of(download)
    assert header[2] == "号码或OpenID" and [line[2] for line in lines] == ["'" + FARMER_ZH]
    assert lines[0][3] == "王大伯" and lines[0][4] == "武都"
    # open the farmer
    await row.locator("a.name").click()
    await page.wait_for_url(f"{dash.url}/admin/users/{ids[FARMER_ZH]}")
    facts = await page.inner_text("#facts")
    assert FARMER_ZH in facts and "武都" in facts and "中文" in facts
    assert "¥3.50/斤" in await page.inner_text("#listings")
    assert "已接受" in await page.inner_text("#orders")
    await shot(page, "user-zh")
    # the opted-out people, from a clean list
    await page.goto(dash.url + "/admin/users")
    await page.select_option("select[name=optout]", "out")
    await page.wait_for_function("document.querySelectorAll('#users tbody tr').length === 1")
    async with page.expect_download() as info:
        await page.click("#export-out")
    header, *lines = await rows_of(await info.value)
    assert [line[2] for line in lines] == ["'" + STOPPED]
    await page.close()


async def test_an_admin_in_english_adds_an_account_links_a_phone_and_makes_a_token(
    dash, browser, sqlite_only
):
    await market(dash)
    await dash.account("amina", "admin")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, dash.url, "amina")
    await page.goto(dash.url + "/admin/accounts")
    assert "添加账号" in await page.inner_text("#add-account")
    assert "在这里不能删除自己的账号" in await page.inner_text(
        "section.account[data-name='amina']"
    )
    await shot(page, "accounts-zh")
    await page.goto(dash.url + "/admin/users")
    await page.select_option("#language", "en")  # the page reloads in English
    await page.wait_for_selector("input[placeholder='Number, name or place']")
    await page.wait_for_selector("#to-accounts")
    await shot(page, "users-en")
    await page.click("#to-accounts")
    await page.wait_for_url(dash.url + "/admin/accounts")
    await page.fill("#add-form input[name=name]", "Wanjiru")
    await page.select_option("#add-form select[name=role]", "coordinator")
    await page.fill("#add-form input[name=password]", PASSWORD)
    await page.click("#add")
    await page.wait_for_selector("text=Account Wanjiru added (coordinator).")
    card = page.locator("section.account[data-name='Wanjiru']")
    await card.locator(".link-form select[name=channel]").select_option("sms")
    await card.locator(".link-form input[name=address]").fill("+8613800000077")
    await card.locator(".link-form button").click()
    await page.wait_for_selector("text=+8613800000077 (SMS) is linked to Wanjiru")
    await card.locator(".token-form button").click()
    await page.wait_for_selector("#new-token")
    token = await page.inner_text("#new-token")
    assert token.startswith("fct_")
    assert "It is shown this once" in await page.inner_text("#fresh-token")
    await shot(page, "accounts-token-en")
    await page.goto(dash.url + "/admin/accounts")
    assert token not in await page.content()
    assert "+8613800000077" in await card.inner_text()
    await shot(page, "accounts-en")
    # Wanjiru signs in; by SMS she is a coordinator now
    assert "Price to publish" in await dash.text("+8613800000077", "broadcast apple 4.2 yuan/jin")
    other = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(other, dash.url, "Wanjiru")
    await other.goto(dash.url + "/admin/users?q=0077")
    assert "协调员 · Wanjiru" in await other.inner_text("#users")
    await shot(other, "users-linked-zh")
    await other.close()
    await page.close()
