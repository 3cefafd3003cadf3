"""The dashboard in a real headless Chromium: sign in, publish a price and see it on the board
and in the chart, send a broadcast and watch its progress reach done, in Chinese and in
English. Screenshots land in test-artifacts/."""

from __future__ import annotations

import pytest

from tests.web.conftest import PASSWORD, shot, signed_in_page
from tests.web.test_prices_broadcasts import SUBSCRIBERS, market

pytestmark = pytest.mark.usefixtures("sqlite_only")


async def test_wrong_password_is_refused_then_sign_in_and_out(dash, browser):
    await dash.account("amina")
    page = await browser.new_page()
    await page.goto(dash.url + "/admin/prices")
    assert page.url.startswith(dash.url + "/admin/login")
    await page.fill("input[name=name]", "amina")
    await page.fill("input[name=password]", "not the password")
    await page.click("button[type=submit]")
    assert await page.locator(".error").inner_text() == "账号或密码不对。"
    await shot(page, "login-refused")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(dash.url + "/admin/prices")  # back where they were going
    assert "价格表" in await page.locator("h1").inner_text()
    await page.click("#logout")
    await page.wait_for_url("**/admin/login?note=out")
    await page.goto(dash.url + "/admin")
    assert "/admin/login" in page.url


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_publish_a_price_and_see_it_on_the_board_and_chart(dash, browser, lang):
    await market(dash)
    await dash.account("amina", "coordinator")
    page = await signed_in_page(browser, dash.url, "amina", lang)
    await page.goto(dash.url + "/admin/prices")
    await shot(page, f"prices-board-before-{lang}")
    await page.select_option("#publish select[name=product]", "apple")
    await page.fill("#publish input[name=price]", "4.2")
    await page.select_option("#publish select[name=unit]", "jin")
    await page.click("#publish button[type=submit]")
    await page.wait_for_selector("#preview")
    assert await page.locator("#audience").inner_text() == "2"
    await shot(page, f"price-preview-{lang}")
    await page.click("#send")
    await page.wait_for_selector("#progress")
    await page.goto(dash.url + "/admin/prices")
    cell = page.locator('#board tr[data-product="apple"] td[data-market=""]')
    expected = "¥4.20/斤" if lang == "zh" else "¥4.20/jin"
    assert expected in await cell.inner_text()
    await shot(page, f"prices-board-after-{lang}")
    await page.click('#board a[href="/admin/prices/apple"]')
    await page.wait_for_selector("svg.chart")
    points = page.locator("svg.chart circle.point title")
    titles = [await points.nth(i).text_content() for i in range(await points.count())]
    assert any(expected in t for t in titles), titles
    assert await page.locator("svg.chart polygon.band").count() == 1  # the asking range
    await shot(page, f"price-chart-{lang}")
    for phone in SUBSCRIBERS:
        assert len(await dash.received(phone)) == 1


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_compose_a_broadcast_and_watch_it_reach_done(dash, browser, lang):
    await market(dash)
    await dash.account("amina")
    page = await signed_in_page(browser, dash.url, "amina", lang)
    await page.goto(dash.url + "/admin/broadcasts")
    await page.fill("#compose textarea[name=text]", "Co-op meeting Friday 9am")
    await page.fill("#compose textarea[name=text_zh]", "周五上午9点合作社开会")
    await page.check("#compose input[value=everyone]")
    await page.click("#compose button[type=submit]")
    await page.wait_for_selector("#preview")
    assert await page.locator("#audience").inner_text() == "6"
    await shot(page, f"broadcast-preview-{lang}")
    await page.click("#send")
    # htmx polls the progress fragment in place until the broadcast is done
    await page.wait_for_selector('#progress[data-status="done"]', timeout=20000)
    sent = page.locator('#progress li[data-state="sent"] b')
    assert await sent.inner_text() == "6"
    await shot(page, f"broadcast-done-{lang}")
    assert await dash.received("+8613800000031") == ["周五上午9点合作社开会"]
    await page.goto(dash.url + "/admin/audit")
    actions = await page.locator("#audit td:nth-child(3)").all_inner_texts()
    assert actions[0] == "broadcast.sent"
    await page.goto(dash.url + "/admin")
    await shot(page, f"overview-{lang}")
    assert await page.locator("svg.chart rect.bar").count() >= 2


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_answer_a_farmer_as_a_person_and_hand_back(dash, browser, lang):
    farmer = "+254700000071"
    await dash.text(farmer, "sell 50kg apples at 3/kg")
    await dash.account("amina", "coordinator")
    page = await signed_in_page(browser, dash.url, "amina", lang)
    await page.goto(dash.url + "/admin/conversations")
    await page.click(f"#writers a:has-text('{farmer}')")
    await page.wait_for_selector("#lines")
    await page.fill("#answer textarea[name=text]", "We collect on Friday")
    await page.click("#send-answer")
    await page.wait_for_selector('#conversation[data-handed="yes"]')
    assert await dash.received(farmer, 2) == [
        "A person from the co-op is answering you now.",
        "We collect on Friday",
    ]
    assert await dash.text(farmer, "are you there?") == ""  # the bot keeps quiet
    # the page shows the farmer's new message by itself (htmx polls it)
    await page.wait_for_selector("#lines li.in:has-text('are you there?')", timeout=10000)
    await shot(page, f"handoff-{lang}")
    await page.click("#hand-back")
    await page.wait_for_selector('#conversation[data-handed="no"]')
    assert "Listing" in await dash.text(farmer, "sell 10kg beans at 2/kg")


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_the_simulator_round_trip(dash, browser, lang):
    await dash.account("amina")
    page = await signed_in_page(browser, dash.url, "amina", lang)
    await page.goto(dash.url + "/admin/simulator")
    words = "买20斤苹果" if lang == "zh" else "buy 20 kg apples"
    await page.fill("#say input[name=text]", words)
    await page.click("#say button[type=submit]")
    await page.wait_for_selector("#sim-lines li.reply")
    assert "1)" in await page.locator("#sim-lines li.reply").last.inner_text()
    await page.fill("#say input[name=text]", "1")
    await page.click("#say button[type=submit]")
    await page.wait_for_selector("#sim-pushes tr")
    assert await page.locator("#sim-pushes").inner_text() != ""
    await shot(page, f"simulator-{lang}")
    assert dash.fake.messages == []
