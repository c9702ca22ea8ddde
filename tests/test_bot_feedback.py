"""Feedback that teaches: 👎 asks what was wrong, 👍 counts, one vote per member; refusals hand off
to a moderator channel without pinging anyone; /stats and `roundup-bot stats` show the gaps."""
from __future__ import annotations

import json

import discord
import pytest

from bot.cli import main
from bot_helpers import button_id, buttons, show

pytestmark = pytest.mark.simcord(settle_timeout=60)

ANSWERED = "Where does TikTok say it keeps American users' data?"
UNANSWERED = ["What is a good banana bread recipe?", "How do I bake banana bread?",
              "Who won the 1998 football world cup?"]


@pytest.fixture
def world(simcord_env):
    env = simcord_env
    guild = env.create_guild()
    channel = guild.create_text_channel("china-tech")
    mods_channel = guild.create_text_channel("mods")
    mods = guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
    admin = guild.add_member(env.create_user("admin"), roles=[mods])
    members = [guild.add_member(env.create_user(f"m{i}")) for i in range(4)]
    return env, guild, channel, mods_channel, admin, members


async def test_thumbs_down_opens_a_form_and_stores_the_reason(world):
    env, _, channel, _, _, (alice, bob, *_) = world
    result = await alice.slash(channel, "ask", question=ANSWERED)
    message = result.response
    form = await bob.click(message, custom_id=button_id(message, emoji="👎"))
    modal = form.modal
    assert modal is not None and "wrong" in modal["title"].lower()
    print(json.dumps(modal, ensure_ascii=False, indent=1)[:1500])
    options = [o["value"] for c in modal["components"] if c.get("component")
               for o in c["component"].get("options", [])]
    assert options == ["wrong", "outdated", "not_covered", "other"]
    text_input = next(c["component"] for c in modal["components"] if c["component"].get("custom_id") == "detail")
    assert text_input["max_length"] == 300
    done = await bob.submit_modal(form, {"reason": ["outdated"], "detail": "TikTok moved the data to Oracle later"})
    assert done.ephemeral and "Thanks" in done.response.content
    (row,) = env.bot.state.feedback()
    assert (row["user_id"], row["vote"], row["reason"]) == (bob.id, -1, "outdated")
    assert row["detail"] == "TikTok moved the data to Oracle later"
    assert row["question"] == ANSWERED
    shown_ids, scores = json.loads(row["passage_ids"]), json.loads(row["scores"])
    assert len(shown_ids) == len(scores) >= 1 and all(0 < s <= 1.5 for s in scores)


async def test_thumbs_up_counts_and_a_new_vote_replaces_the_old(world):
    env, _, channel, _, _, (alice, bob, *_) = world
    message = (await alice.slash(channel, "ask", question=ANSWERED)).response
    form = await bob.click(message, custom_id=button_id(message, emoji="👎"))
    await bob.submit_modal(form, {"reason": ["wrong"]})
    up = await bob.click(message, custom_id=button_id(message, emoji="👍"))
    assert up.ephemeral and up.modal is None  # 👍 just counts
    up = await alice.click(message, custom_id=button_id(message, emoji="👍"))
    rows = {r["user_id"]: r for r in env.bot.state.feedback()}
    assert len(rows) == 2
    assert rows[bob.id]["vote"] == 1 and rows[bob.id]["reason"] is None  # changed, not added
    assert rows[alice.id]["vote"] == 1


async def test_refusal_hands_off_to_the_moderator_channel_pinging_no_one(world):
    env, guild, channel, mods_channel, admin, (alice, bob, *_) = world
    plain = await alice.slash(channel, "ask", question=UNANSWERED[0])
    assert not plain.response.components  # no hand-off channel set: no button
    r = await admin.slash(channel, "config handoff", channel=mods_channel)
    assert r.ephemeral and str(mods_channel.id) in r.response.content
    denied = await bob.slash(channel, "ask", question=f"@everyone <@{admin.id}> {UNANSWERED[1]}")
    refusal = denied.response
    show(refusal.embeds[0], "refusal")
    assert [b["label"] for b in buttons(refusal)] == ["Ask a moderator"]
    before = len(env.http_requests)
    click = await bob.click(refusal, label="Ask a moderator")
    assert click.ephemeral and "Passed on" in click.response.content and str(mods_channel.id) in click.response.content
    posted = mods_channel.history()[-1]
    show(posted.embeds[0], "hand-off post")
    text = json.dumps(posted.embeds[0].to_dict()) + posted.content
    assert "banana bread" in text and f"/{channel.id}/{refusal.id}" in text  # the question, linked
    assert "<@" not in text and "@everyone" not in text
    post = next(r for r in env.http_requests[before:] if r.method == "POST"
                and r.path == f"/channels/{mods_channel.id}/messages")
    allowed = post.json["allowed_mentions"]
    assert allowed["parse"] == [] and not allowed.get("users") and not allowed.get("roles")
    again = await alice.click(refusal, label="Ask a moderator")  # once per question
    assert again.ephemeral and "Already passed on" in again.response.content
    assert len(mods_channel.history()) == 1


async def test_stats_show_unanswered_questions_grouped(world, tmp_path, capsys):
    env, guild, channel, _, admin, members = world
    asked = [ANSWERED, *UNANSWERED, "Where can I find a banana bread recipe?"]
    for n, q in enumerate(asked):
        await members[n % len(members)].slash(channel, "ask", question=q)
    message = next(m for m in channel.history() if m.embeds and m.components)
    form = await members[1].click(message, custom_id=button_id(message, emoji="👎"))
    await members[1].submit_modal(form, {"reason": ["not_covered"], "detail": "nothing after 2021"})
    with pytest.raises(Exception):
        await members[0].slash(channel, "stats")  # Manage Server only
    result = await admin.slash(channel, "stats")
    assert result.ephemeral
    embed = result.response.embeds[0]
    show(embed, "/stats")
    assert "**5** questions, **1** answered (20%)" in embed.description
    gaps = next(f for f in embed.fields if f.name.startswith("Not covered yet")).value.splitlines()
    assert "banana bread" in gaps[0] and "(×3)" in gaps[0]  # three wordings, one gap
    assert any("world cup" in g for g in gaps)
    feedback = next(f for f in embed.fields if f.name == "Feedback").value
    assert "👎 1" in feedback and "Not covered: 1" in feedback and "nothing after 2021" in feedback

    data_dir = env.bot.settings.data_dir
    capsys.readouterr()
    assert main(["stats", "--data-dir", str(data_dir), "--guild", str(guild.id), "--csv"]) == 0
    csv_text = capsys.readouterr().out
    header, *rows = csv_text.strip().splitlines()
    assert header == "date,questions,answered,answered_share" and rows[-1].split(",")[1:3] == ["5", "1"]
    assert main(["stats", "--data-dir", str(data_dir), "--json", "--since", "2000-01-01"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["asked"] == 5 and out["unanswered"][0]["count"] == 3
    assert main(["stats", "--data-dir", str(data_dir), "--guild", "1"]) == 0  # another server: nothing
    assert "0 questions" in capsys.readouterr().out
    print(csv_text)
