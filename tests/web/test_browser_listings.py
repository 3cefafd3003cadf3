"""The listings and orders pages in a real headless Chromium: a coordinator narrows the
listings to one product, opens an order's timeline from the orders page, cancels the order
and sees its new status, in Chinese and in English; and expires a listing from its page.
Screenshots land in test-artifacts/."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote

import pytest

from tests.web.conftest import shot, sign_in, signed_in_page
from tests.web.test_listings_orders import BUYER, FARMER, market, status_of, stock

pytestmark = pytest.mark.usefixtures("sqlite_only")


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_filter_open_a_timeline_and_cancel_the_order(dash, browser, lang):
    refs = await market(dash)
    order, listing = refs["accepted"], refs["apples"]
    await dash.received(BUYER, 1)
    await dash.account("li", "coordinator")
    page = await signed_in_page(browser, dash.url, "li", lang)

    await page.goto(dash.url + "/admin/listings")
    rows = page.locator("#listings tbody tr")
    assert await rows.count() == 2
    await page.select_option("#f-product", "apple")
    await page.click("#apply")
    await page.wait_for_url("**/admin/listings?product=apple*")
    assert await rows.count() == 1
    assert await rows.first.get_attribute("data-id") == str(listing)
    words = (
        ("苹果", "王大伯", "20斤 / 50斤")
        if lang == "zh"
        else ("apple", "王大伯", "20 jin / 50 jin")
    )
    for word in words:
        assert word in await rows.first.inner_text()
    await shot(page, f"listings-filtered-{lang}")

    await page.click('nav a[href="/admin/orders"]')
    await page.select_option("#f-status", "accepted")
    await page.click("#apply")
    await page.wait_for_url("**/admin/orders?*status=accepted*")
    assert await page.locator("#orders tbody tr").count() == 1
    await shot(page, f"orders-accepted-{lang}")
    await page.click(f'#orders a[href="/admin/orders/{order}"]')
    await page.wait_for_selector("#timeline")
    kinds = await page.locator("#timeline tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.kind)"
    )
    assert kinds[0] == "created" and "outbound" in kinds and "decided" in kinds
    await shot(page, f"order-timeline-{lang}")

    await page.click("#cancel-open")  # the button is behind a second look
    await page.click("#cancel")
    await page.wait_for_url(f"**/admin/orders/{order}?done=cancelled")
    status = await page.locator("#status").inner_text()
    assert status == ("已取消" if lang == "zh" else "cancelled")
    notice = await page.locator(".notice").inner_text()
    assert (f"订单{order}已取消" if lang == "zh" else f"Order {order} cancelled") in notice
    assert await page.locator("#cancel").count() == 0
    assert await page.locator('#timeline tr[data-kind="audit"]').count() == 1
    await shot(page, f"order-cancelled-{lang}")
    assert await status_of(dash, order) == "cancelled"
    assert (await dash.received(BUYER, 2))[-1] == f"订单{order}已取消。"


async def test_expire_a_listing_from_its_page(dash, browser):
    refs = await market(dash)
    listing = refs["apples"]
    await dash.received(FARMER, 2)
    await dash.account("li", "coordinator")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, dash.url, "li")
    await page.goto(dash.url + f"/admin/listings?q={quote(FARMER)}")
    await page.click(f'#listings a[href="/admin/listings/{listing}"]')
    await page.wait_for_selector("#expire-card")
    await page.click("#expire-open")
    await shot(page, "listing-before-expiry")
    await page.click("#expire")
    await page.wait_for_url(f"**/admin/listings/{listing}?done=expired")
    assert "已下架" in await page.locator(".notice").inner_text()
    assert await page.locator("#expire-card").count() == 0
    statuses = await page.locator("#orders [data-status]").evaluate_all(
        "cells => cells.map(c => c.dataset.status)"
    )
    assert statuses == ["cancelled", "accepted"]  # the waiting order went, the agreed stays
    await shot(page, "listing-expired")
    assert await stock(dash, listing) == ("expired", Decimal(30))
    assert (await dash.received(FARMER, 3))[-1].startswith(f"{listing}号已下架。")
