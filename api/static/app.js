// talktime dashboard: renders the meeting state pushed over /ws; the facilitator's controls call /api.
"use strict";

const $ = (id) => document.getElementById(id);
const PALETTE = ["#4e9cff", "#ff9f43", "#2ed573", "#ff6b9a", "#b197fc", "#ffd32a", "#1dd1c1", "#ff7f50",
                 "#74c0fc", "#d3f261", "#e599f7", "#63e6be"];
const STATUS_TEXT = { ready: "waiting to start", running: "live", paused: "paused", ended: "ended" };
const SPEAKING_NOW_S = 2;  // "speaking now": heard within this many seconds (the page gets a state every 0.1-0.4 s)

const ui = {
  snap: null,          // the newest state
  role: "viewer",
  view: "total",       // "total", "recent" or "phase:<index>"
  editing: null,       // id of the speaker being renamed
  lastMessage: 0,      // Date.now() of the last message
  backoff: 500,        // ms before reconnecting
  access: null,        // GET /api/access
  rows: new Map(),     // speaker id -> row elements
  colors: new Map(),   // speaker id -> colour
  tabsKey: "",
  warmupS: 0,          // seconds before anyone is flagged (hello.warmup_s, the server's --warmup-s)
};

// ----------------------------------------------------------------------------- formatting

function colorOf(id) { return ui.colors.get(id) || "#5b6673"; }

function assignColors(s) {
  // A voice keeps its colour; a new one gets the first colour no present voice has.
  const present = s.speakers.filter((p) => p.id >= 0 && p.present).sort((a, b) => a.id - b.id);
  const live = new Set(present.map((p) => p.id));
  for (const id of ui.colors.keys()) if (!live.has(id)) ui.colors.delete(id);
  for (const p of present) {
    if (ui.colors.has(p.id)) continue;
    const used = new Set(ui.colors.values());
    ui.colors.set(p.id, PALETTE.find((c) => !used.has(c)) || PALETTE[p.id % PALETTE.length]);
  }
}

function roundHalfEven(x) {
  // Python's round(), which the report uses (tracker/reports/charts.py _minutes): 0.5 -> 0, 1.5 -> 2, 2.5 -> 2.
  const f = Math.floor(x), d = x - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

function fmtClock(s) {
  s = Math.max(0, roundHalfEven(s || 0));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

function fmtDur(s) {
  s = roundHalfEven(s || 0);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function fmtAgo(s, snap) {
  // When a person last spoke. "speaking now" only while the meeting runs; paused or ended, the
  // moment of the meeting they last spoke (clock_s and since_last_spoke_s share one clock).
  if (s === null || s === undefined) return "not yet";
  if (snap.status !== "running") return `last spoke at ${fmtClock(snap.clock_s - s)}`;
  if (s < SPEAKING_NOW_S) return "speaking now";
  if (s < 60) return `${roundHalfEven(s)} s ago`;
  return `${roundHalfEven(s / 60)} min ago`;
}

const pct = (x) => (x === null || x === undefined ? "–" : `${roundHalfEven(100 * x)}%`);

function wholePercents(talk) {
  // Talk times as whole percents of their sum that add up to 100, as the report shows them
  // (tracker/reports/figures.py whole_percents): each rounded down, the missing points to the largest
  // remainders (ties: the earlier one). ``talk``: [id, seconds] pairs, loudest first.
  const total = talk.reduce((n, [, t]) => n + t, 0);
  if (!(total > 0)) return new Map(talk.map(([id]) => [id, 0]));
  const raw = talk.map(([, t]) => (100 * t) / total);
  const out = raw.map((r) => Math.floor(r + 1e-9));
  const order = raw.map((_, k) => k).sort((a, b) => (raw[b] - out[b]) - (raw[a] - out[a]) || a - b);
  order.slice(0, Math.max(0, 100 - out.reduce((n, x) => n + x, 0))).forEach((k) => { out[k] += 1; });
  return new Map(talk.map(([id], k) => [id, out[k]]));
}

function percentsOf(people, talkOf) {
  // id -> whole percent of the counted people's talk (they add up to 100)
  const talk = people.map((p) => [p.id, talkOf(p)]).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return wholePercents(talk);
}

function warmingUp(s) {
  // The rule the server flags people by (tracker/meeting/view.py): nobody before warmup_s.
  return s.clock_s < ui.warmupS;
}

function tooEarly(s) {
  const span = ui.warmupS === 60 ? "minute" : fmtDur(ui.warmupS);
  return s.status === "ended" ? `too short to tell (under ${span === "minute" ? "a minute" : span})`
    : `too early to tell (first ${span})`;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// ----------------------------------------------------------------------------- connection

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onopen = () => { ui.backoff = 500; };
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    ui.lastMessage = Date.now();
    if (msg.type === "hello") { ui.warmupS = msg.warmup_s || 0; setRole(msg.role); }
    else if (msg.type === "state") render(msg.state);
  };
  ws.onclose = async () => {
    setLive();
    const r = await fetch("/api/access").catch(() => null);
    if (r && r.status === 401) { location.href = "/"; return; }
    setTimeout(connect, ui.backoff);
    ui.backoff = Math.min(ui.backoff * 2, 5000);
  };
}

function setLive() {
  const fresh = Date.now() - ui.lastMessage < 2000;
  $("live").className = `dot ${fresh ? "live" : "stale"}`;
  $("live").title = fresh ? "live" : "reconnecting";
  return fresh;
}

async function setRole(role) {
  ui.role = role;
  document.body.dataset.role = role;
  $("controls").hidden = role !== "facilitator";
  if (role === "facilitator" && !ui.access) {
    const r = await fetch("/api/access");
    if (r.ok) ui.access = await r.json();
    renderJoin();
  }
}

// ----------------------------------------------------------------------------- rendering

function render(s) {
  ui.snap = s;
  document.body.dataset.status = s.status;
  $("clock").textContent = fmtClock(s.clock_s);
  $("status").textContent = STATUS_TEXT[s.status] || s.status;
  assignColors(s);
  renderBalance(s);
  renderBanners(s);
  renderRestart(s);
  renderReportLinks(s);
  renderTabs(s);
  renderBars(s);
  renderFlags(s);
  renderFigures(s);
  renderTimeline(s);
  if (ui.role === "facilitator") renderControls(s);
  const input = s.input;
  const counted = [[input.dropped_blocks, "audio blocks dropped"], [input.overflows, "device overflows"],
    [input.nonfinite_blocks, "broken blocks silenced"], [input.clipped_blocks, "clipped blocks"],
    [input.offset_blocks, "blocks with a DC offset"]];
  const drops = counted.filter(([n]) => n).map(([n, what]) => ` · ${n} ${what}`).join("");
  $("input-status").textContent = `input: ${input.label}${input.device ? ` (${input.device})` : ""} · ${input.status}${drops}`;
  $("meeting-id").textContent = `meeting ${s.meeting_id.slice(0, 8)}`;
}

function balanceClass(b) {
  if (b === null) return "";
  return b >= 0.8 ? "good" : b >= 0.6 ? "fair" : b >= 0.4 ? "uneven" : "bad";
}

function renderBalance(s) {
  // During the warm-up the score is shown but not judged, as the "Talking most" panel does.
  const b = s.group.balance;
  const early = b !== null && warmingUp(s);
  $("balance").textContent = b === null ? "–" : String(roundHalfEven(100 * b));
  $("balance").className = `balance ${early ? "" : balanceClass(b)}`;
  $("reading").textContent = early ? tooEarly(s) : s.group.reading;
}

function renderBanners(s) {
  const out = [];
  const status = s.input.status;
  if (status.startsWith("no microphone")) {
    out.push(["error", `No microphone: ${status.slice(15) || "none found"}. Plug one in; it is picked up automatically.`]);
  } else if (status.startsWith("input failed")) out.push(["error", status]);
  else if (status === "end of input" && s.status !== "ended") out.push(["info", "The recording has ended: nothing more is counted. End the meeting to close it and get its report."]);
  if (s.status === "paused") out.push(["warn", "Paused: nothing is counted until Start."]);
  if (s.status === "ready") {
    out.push(["info", s.waiting_for_speech ? "Ready: the meeting starts when someone speaks."
      : "Waiting to start: nothing is counted until the facilitator presses Start."]);
  }
  if (s.status === "ended") {
    out.push(["info", s.end_reason === "silence" ? "The meeting ended after a long silence (not counted). These are its final figures."
      : "The meeting has ended. These are its final figures."]);
  }
  if (s.too_many_people) {
    out.push(["warn", `${s.group.people} people are in this meeting. Groups of more than ${s.max_people} rarely share the talk: consider splitting up.`]);
  }
  if (!setLive()) out.push(["warn", "Reconnecting…"]);
  const box = $("banners");
  const key = JSON.stringify(out);
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren(...out.map(([kind, text]) => el("div", `banner ${kind}`, text)));
}

function renderRestart(s) {
  // talktime restarted after a crash (snapshot.restart): the server's words, and the interrupted
  // meeting's report when a new meeting began instead of continuing it.
  const box = $("restart-banner");
  const r = s.restart;
  const key = r ? `${r.interrupted_id}|${r.message}` : "";
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  if (!r) { box.replaceChildren(); return; }
  const note = el("div", "banner warn", r.message);
  if (!r.continued) {
    const link = el("a", "", "Report of the interrupted meeting");
    link.href = `/api/meetings/${encodeURIComponent(r.interrupted_id)}/report?format=html`;
    link.target = "_blank";
    link.rel = "noopener";
    note.append(" ", link);
  }
  box.replaceChildren(note);
}

function renderReportLinks(s) {
  // The post-meeting report (GET /api/meetings/{id}/report), offered once the meeting has ended.
  // Before the next meeting has anything to show, the previous one's report is offered instead.
  const box = $("report-links");
  const previous = s.status !== "ended" && s.clock_s < 60 ? s.previous_meeting_id : null;
  box.hidden = s.status !== "ended" && !previous;
  if (box.hidden) return;
  $("report-which").textContent = previous ? "Report of the previous meeting:" : "Report of this meeting:";
  for (const fmt of ["html", "pdf", "csv", "json"]) {
    $(`report-${fmt}`).href = `/api/meetings/${encodeURIComponent(previous || s.meeting_id)}/report?format=${fmt}`;
  }
}

function renderTabs(s) {
  const key = s.phases.map((p) => p.name).join("|");
  if (key !== ui.tabsKey) {
    ui.tabsKey = key;
    const tabs = $("views");
    tabs.querySelectorAll("[data-phase-tab]").forEach((b) => b.remove());
    s.phases.forEach((p, i) => {
      const b = el("button", "", p.name);
      b.dataset.view = `phase:${i}`;
      b.dataset.phaseTab = "";
      b.setAttribute("role", "tab");
      tabs.append(b);
    });
    if (ui.view.startsWith("phase:") && Number(ui.view.slice(6)) >= s.phases.length) ui.view = "total";
  }
  $("views").querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.view === ui.view)));
}

function viewFigures(s) {
  // id -> [talk_time_s, share] for the chosen view
  const out = new Map();
  if (ui.view.startsWith("phase:")) {
    const phase = s.phases[Number(ui.view.slice(6))];
    if (phase) phase.speakers.forEach((p) => out.set(p.id, [p.talk_time_s, p.share]));
    return out;
  }
  const recent = ui.view === "recent";
  s.speakers.forEach((p) => out.set(p.id, recent ? [p.recent_talk_time_s, p.recent_share] : [p.talk_time_s, p.share]));
  return out;
}

function newRow(id) {
  const li = el("li", "bar-row");
  li.dataset.id = id;
  const name = el("div", "name");
  const who = el("span", "who");
  const edit = el("button", "edit", "✎");
  edit.title = "Rename";
  edit.setAttribute("aria-label", "Rename");
  edit.addEventListener("click", () => startRename(Number(li.dataset.id)));
  const badges = el("span", "badges");
  name.append(who, edit, badges);
  const nums = el("div", "nums");
  const share = el("span", "share"), time = el("span", "time");
  nums.append(share, time);
  const track = el("div", "track");
  const fill = el("div", "fill"), equal = el("div", "equal");
  track.append(fill, equal);
  const meta = el("div", "meta");
  li.append(name, nums, track, meta);
  return { li, name, who, badges, share, time, fill, equal, meta };
}

function renderBars(s) {
  const people = s.speakers.filter((p) => p.present)
    .sort((a, b) => (a.id < 0) - (b.id < 0) || (a.id < 0 ? b.id - a.id : a.id - b.id));
  const figures = viewFigures(s);
  const equal = s.equal_share || 0;
  const top = Math.max(0, ...people.map((p) => (figures.get(p.id) || [0, 0])[1]));
  const scale = Math.max(top, equal * 1.25, 0.01) * 1.05;
  const percents = percentsOf(people, (p) => (figures.get(p.id) || [0, 0])[0]);
  $("equal-share").textContent = equal ? `(${pct(equal)} each for ${s.group.people})` : "";
  const list = $("bars");
  const seen = new Set();
  people.forEach((p) => {
    seen.add(p.id);
    let row = ui.rows.get(p.id);
    if (!row) { row = newRow(p.id); ui.rows.set(p.id, row); }
    updateRow(row, p, figures.get(p.id) || [0, 0], equal, scale, percents.get(p.id));
  });
  for (const [id, row] of ui.rows) if (!seen.has(id)) { row.li.remove(); ui.rows.delete(id); }
  if (ui.editing === null) {
    people.forEach((p) => list.append(ui.rows.get(p.id).li));  // keeps order; moving nodes is cheap
  }
  $("no-voices").hidden = people.length > 0;
  const phantoms = s.speakers.filter((p) => !p.present);
  $("phantoms").hidden = phantoms.length === 0;
  const shown = phantoms.slice(0, 4).map((p) => `${p.name} (${fmtDur(p.talk_time_s)})`);
  if (phantoms.length > 4) shown.push(`${phantoms.length - 4} more`);
  $("phantoms").textContent = phantoms.length
    ? `Brief voices, not counted: ${shown.join(", ")}. If one is a person here, merge it into their voice.`
    : "";
}

function updateRow(row, p, [talk, share], equal, scale, percent) {
  row.li.classList.toggle("expected", p.expected);
  if (ui.editing !== p.id) row.who.textContent = p.name;
  row.share.textContent = percent === undefined ? pct(share) : `${percent}%`;
  row.time.textContent = fmtDur(talk);
  row.fill.style.width = `${(100 * share) / scale}%`;
  row.fill.style.background = colorOf(p.id);
  row.equal.style.left = `${(100 * equal) / scale}%`;
  row.equal.hidden = !equal;
  const badges = [];
  if (p.quiet) badges.push(["badge ask", "Ask them"]);
  if (p.dominant) badges.push(["badge dom", "Dominating"]);
  if (p.remote) badges.push(["badge remote", "Remote"]);
  const fromProfile = ((ui.snap && ui.snap.from_profile) || []).includes(p.id);
  if (fromProfile) badges.push(["badge profile", "Voice profile"]);
  const canKeep = ui.role === "facilitator" && p.id >= 0 && !p.remote && !fromProfile && !/^Guest \d+$/.test(p.name);
  const key = badges.map((b) => b[1]).join("|") + (canKeep ? "|keep" : "");
  if (row.badges.dataset.key !== key) {
    row.badges.dataset.key = key;
    row.badges.replaceChildren(...badges.map(([cls, text]) => el("span", cls, text)));
    if (canKeep) row.badges.append(keepVoiceButton(p));
  }
  row.meta.textContent = p.expected
    ? "on the roster · counts at zero until they speak"
    : `${p.turns} turn${p.turns === 1 ? "" : "s"} · longest ${fmtDur(p.longest_turn_s)} · ${fmtAgo(p.since_last_spoke_s, ui.snap)}`
      + overlapNote(p);
}

function overlapNote(p) {
  // The server's figures; null when the engine cannot see two people at once (the Overlap row says so).
  if (p.overlap_s === null || p.overlap_s === undefined) return "";
  return ` · overlap ${fmtDur(p.overlap_s)} · interrupted others ${p.interruptions_made}×,`
    + ` was interrupted ${p.interruptions_suffered}×`;
}

function renderFlags(s) {
  const quiet = s.speakers.filter((p) => p.quiet);
  const dominant = s.speakers.filter((p) => p.dominant);
  const item = (name, note) => { const li = el("li"); li.append(el("span", "", name), el("span", "", note)); return li; };
  $("quiet").replaceChildren(...quiet.map((p) => item(p.name, p.quiet)));
  const percents = percentsOf(s.speakers.filter((p) => p.present), (p) => p.talk_time_s);
  $("dominant").replaceChildren(...dominant.map((p) => item(p.name, `${percents.has(p.id) ? `${percents.get(p.id)}%` : pct(p.share)} of the talk`)));
  $("quiet-none").hidden = quiet.length > 0;
  $("dominant-none").hidden = dominant.length > 0;
  const early = warmingUp(s);
  const why = tooEarly(s);
  $("quiet-none").textContent = early ? `Nobody yet: ${why}.` : "Nobody has been left out so far.";
  $("dominant-none").textContent = early ? `Nobody yet: ${why}.` : "Nobody is dominating.";
}

function fmtSilence(g) {
  // As the report shows it (tracker/reports/text.py score_rows): when speech and silence make up the whole
  // length, silence is the shown length minus the shown speech, so 0:44 + 0:05 reads 0:49.
  if (Math.abs(g.speech_s + g.silence_s - g.duration_s) < 0.01) {
    return fmtClock(Math.max(0, roundHalfEven(g.duration_s) - roundHalfEven(g.speech_s)));
  }
  return fmtClock(g.silence_s);
}

function renderFigures(s) {
  const g = s.group;
  const counted = s.speakers.filter((p) => p.present);
  const turns = s.speakers.reduce((n, p) => n + (p.present ? p.turns : 0), 0);
  const longest = s.speakers.filter((p) => p.present).sort((a, b) => b.longest_turn_s - a.longest_turn_s)[0];
  const rows = [
    ["People counted", String(g.people)],
    ["Worth this many equal voices", g.effective_speakers === null ? "–" : g.effective_speakers.toFixed(1)],
    ["Top speaker's share", g.top_share === null || !counted.length ? pct(g.top_share)
      : `${Math.max(...percentsOf(counted, (p) => p.talk_time_s).values())}%`],
    ["Turns", String(turns)],
    ["Longest monologue", longest && longest.longest_turn_s ? `${fmtDur(longest.longest_turn_s)} (${longest.name})` : "–"],
    ["Speech", fmtClock(g.speech_s)],
    ["Silence", `${fmtSilence(g)} (${pct(g.duration_s ? g.silence_s / g.duration_s : null)})`],
    ["Overlap", g.overlap_measured === false ? "not measured (this engine hears one voice at a time)" : fmtDur(g.overlap_s)],
  ];
  if (s.input.paused_s > 0) rows.push(["Paused (not counted)", fmtClock(s.input.paused_s)]);
  if (s.input.call !== null && s.input.call !== undefined) {
    // Hybrid meeting: the people on the call are the ones most easily talked over.
    const remote = counted.filter((p) => p.remote).reduce((n, p) => n + p.share, 0);
    const nRemote = counted.filter((p) => p.remote).length;
    rows.push(["In the room", `${pct(counted.length ? 1 - remote : null)} of the talk (${counted.length - nRemote} people)`]);
    rows.push(["Remote", `${pct(counted.length ? remote : null)} of the talk (${nRemote} people)`]);
    if (s.input.call !== "ok") rows.push(["Call audio", s.input.call]);
  }
  const list = $("figures");
  const key = JSON.stringify(rows);
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", "", k), el("dd", "", v)]));
}

// ----------------------------------------------------------------------------- timeline

function niceStep(total, px) {
  const target = total / Math.max(2, px / 90);
  return [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].find((st) => st >= target) || 7200;
}

function renderTimeline(s) {
  const canvas = $("timeline");
  const people = s.speakers.filter((p) => p.id >= 0 && p.present).sort((a, b) => a.id - b.id);
  const css = getComputedStyle(document.documentElement);
  const rem = parseFloat(css.fontSize);
  const laneH = Math.round(rem * 1.5), axisH = Math.round(rem * 1.4), top = Math.round(rem * 1.2);
  const width = canvas.clientWidth;
  const height = top + Math.max(1, people.length) * laneH + axisH;
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.height = `${height}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = `600 ${Math.round(rem * 0.8)}px system-ui, sans-serif`;
  ctx.textBaseline = "middle";
  const labelW = Math.min(width * 0.3, Math.max(60, ...people.map((p) => ctx.measureText(p.name).width + 12)));
  const plotW = Math.max(10, width - labelW - 8);
  const total = Math.max(s.clock_s, 10);
  const x = (t) => labelW + (plotW * t) / total;
  const lane = new Map(people.map((p, i) => [p.id, i]));
  people.forEach((p, i) => {
    const y = top + i * laneH;
    ctx.fillStyle = i % 2 ? "#121820" : "#0f141a";
    ctx.fillRect(labelW, y, plotW, laneH);
    ctx.fillStyle = "#c9d2db";
    ctx.fillText(p.name, 0, y + laneH / 2, labelW - 8);
  });
  for (const [id, start, end] of s.timeline) {
    const i = lane.get(id);
    if (i === undefined) continue;
    ctx.fillStyle = colorOf(id);
    ctx.fillRect(x(start), top + i * laneH + 3, Math.max(1.5, x(end) - x(start)), laneH - 6);
  }
  ctx.strokeStyle = "#4e9cff";
  ctx.fillStyle = "#8ab8ff";
  s.phases.forEach((ph) => {
    ctx.beginPath();
    ctx.moveTo(x(ph.start_s) + 0.5, top - 4);
    ctx.lineTo(x(ph.start_s) + 0.5, top + people.length * laneH);
    ctx.stroke();
    ctx.fillText(ph.name, x(ph.start_s) + 4, top / 2, Math.max(30, plotW - (x(ph.start_s) - labelW) - 4));
  });
  const step = niceStep(total, plotW);
  ctx.fillStyle = "#8b97a3";
  const axisY = top + Math.max(1, people.length) * laneH + axisH / 2;
  for (let t = 0; t <= total; t += step) {
    ctx.fillText(fmtClock(t), Math.min(x(t), width - 40), axisY);
  }
  const current = s.phases.find((p) => p.end_s === null);
  $("phase-now").textContent = current ? `now: ${current.name} (${fmtClock(current.duration_s)})` : "";
}

// ----------------------------------------------------------------------------- controls

async function newMeeting() {
  // The room's next meeting (POST /api/meetings); every viewer's page follows it.
  $("control-error").textContent = "";
  const r = await fetch("/api/meetings", { method: "POST" });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) { $("control-error").textContent = data.detail || `failed (${r.status})`; return; }
  render(data);
}

async function control(method, path, body) {
  if (!ui.snap) return null;
  $("control-error").textContent = "";
  const r = await fetch(`/api/meetings/${ui.snap.meeting_id}/${path}`, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : data.detail;
    $("control-error").textContent = detail || `failed (${r.status})`;
    return null;
  }
  render(data);
  return data;
}

function startRename(id) {
  if (ui.role !== "facilitator" || ui.editing !== null) return;
  const row = ui.rows.get(id);
  if (!row) return;
  ui.editing = id;
  const input = el("input");
  input.value = row.who.textContent;
  input.setAttribute("list", "roster-names");
  input.maxLength = 60;
  input.setAttribute("aria-label", "new name");
  row.who.replaceChildren(input);
  input.focus();
  input.select();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const name = input.value.trim();
    ui.editing = null;
    row.who.textContent = name && save ? name : row.who.textContent;
    if (save && name) await control("PATCH", `speakers/${id}`, { name });
    if (ui.snap) render(ui.snap);
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") finish(true);
    if (e.key === "Escape") finish(false);
  });
  input.addEventListener("blur", () => finish(true));
}

function renderControls(s) {
  const ended = s.status === "ended";
  const byAction = (a) => document.querySelector(`[data-action="${a}"]`);
  byAction("start").disabled = !(s.status === "ready" || s.status === "paused");
  byAction("pause").disabled = s.status !== "running";
  byAction("end").disabled = ended;
  byAction("new").hidden = !ended;
  const current = s.phases.find((p) => p.end_s === null);
  document.querySelectorAll("[data-phase]").forEach((b) => {
    b.disabled = ended;
    b.classList.toggle("active", !!current && current.name === b.dataset.phase);
  });
  document.querySelector("[data-phase-end]").disabled = ended || !current;
  $("phase-form").querySelectorAll("input, button").forEach((x) => { x.disabled = ended; });
  const voices = s.speakers.filter((p) => p.id >= 0);
  const expected = s.speakers.filter((p) => p.expected);
  const key = JSON.stringify([voices.map((p) => [p.id, p.name]), expected.map((p) => [p.id, p.name])]);
  if ($("merge-form").dataset.key === key) return;
  $("merge-form").dataset.key = key;
  // The voice to merge away is usually a brief one, the one to keep a main voice.
  const byTalk = [...voices].sort((a, b) => a.talk_time_s - b.talk_time_s);
  for (const [name, list] of [["gone", byTalk], ["keep", [...byTalk].reverse()]]) {
    const sel = $("merge-form").elements.namedItem(name);
    const chosen = sel.value;
    sel.replaceChildren(...list.map((p) => { const o = el("option", "", p.name); o.value = p.id; return o; }));
    if (sel.dataset.touched && list.some((p) => String(p.id) === chosen)) sel.value = chosen;
  }
  const roster = expected.map((p) => {
    const li = el("li", "", p.name);
    const enroll = el("button", "enroll", "Enroll voice");
    enroll.title = `Listen to ${p.name} for ${ENROLL_S} s and recognise them from now on`;
    enroll.addEventListener("click", () => enrollAttendee(p));
    li.append(enroll);
    const x = el("button", "", "×");
    x.title = `Remove ${p.name}`;
    x.addEventListener("click", () => control("DELETE", `attendees/${p.id}`));
    li.append(x);
    return li;
  });
  $("roster").replaceChildren(...roster);
  $("roster-names").replaceChildren(...expected.map((p) => { const o = el("option"); o.value = p.name; return o; }));
}

// ----------------------------------------------------------------------------- voice profiles

const ENROLL_S = 8;  // seconds the room is listened to for an enrollment

function askConsent(name) {
  return window.confirm(`Does ${name} agree to keep a voice profile on this computer? ` +
    "It is an average of voice features, never a recording, and can be deleted at any time " +
    "(`talktime profiles delete`). Cancel: recognise them in this meeting only.");
}

async function enrollAttendee(p) {
  const consent = askConsent(p.name);
  const status = $("enroll-status");
  status.textContent = `Listening for ${ENROLL_S} s: ask ${p.name}, alone, to say their name and what they work on…`;
  const done = await control("POST", `attendees/${p.id}/enroll`, { seconds: ENROLL_S, consent });
  status.textContent = done ? `${p.name} is enrolled${consent ? " and their voice profile is kept" : " for this meeting"}.` : "";
}

function keepVoiceButton(p) {
  const b = el("button", "keep-voice", "Keep voice");
  b.title = `Keep ${p.name}'s voice profile, so the next meetings recognise them`;
  b.addEventListener("click", async () => {
    if (!askConsent(p.name)) return;
    if (await control("POST", `speakers/${p.id}/profile`, { consent: true })) {
      $("enroll-status").textContent = `${p.name}'s voice profile is kept.`;
    }
  });
  return b;
}

function renderJoin() {
  const a = ui.access;
  if (!a || !a.code) return;
  const p = $("join");
  p.replaceChildren("Viewers open ", el("code", "", a.join_url.replace(/[?#]code=.*/, "")), " and enter the code ",
    el("code", "", a.code));
}

function armEnd(button) {
  if (button.classList.contains("confirm")) {
    button.classList.remove("confirm");
    button.textContent = "End meeting";
    return true;
  }
  button.classList.add("confirm");
  button.textContent = "Tap again to end";
  setTimeout(() => { button.classList.remove("confirm"); button.textContent = "End meeting"; }, 4000);
  return false;
}

function wireControls() {
  $("views").addEventListener("click", (e) => {
    const b = e.target.closest("button");
    if (!b) return;
    ui.view = b.dataset.view;
    if (ui.snap) render(ui.snap);
  });
  $("meeting-controls").addEventListener("click", (e) => {
    const b = e.target.closest("[data-action]");
    if (!b || (b.dataset.action === "end" && !armEnd(b))) return;
    if (b.dataset.action === "new") newMeeting();
    else control("POST", b.dataset.action);
  });
  $("phase-controls").addEventListener("click", (e) => {
    const b = e.target.closest("button");
    if (!b) return;
    if (b.hasAttribute("data-phase-end")) control("POST", "phases/end");
    else control("POST", "phases", { name: b.dataset.phase });
  });
  const onSubmit = (id, send) => $(id).addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    if (await send(form)) {
      form.reset();
      form.querySelectorAll("select").forEach((s) => { delete s.dataset.touched; });
      form.dataset.key = "";
    }
  });
  onSubmit("phase-form", (f) => control("POST", "phases", { name: f.elements.namedItem("name").value }));
  onSubmit("attendee-form", (f) => control("POST", "attendees", { name: f.elements.namedItem("name").value }));
  $("merge-form").addEventListener("change", (e) => { e.target.dataset.touched = "1"; });
  onSubmit("merge-form", (f) => {
    const keep = Number(f.elements.namedItem("keep").value), gone = Number(f.elements.namedItem("gone").value);
    if (keep === gone) { $("control-error").textContent = "Choose two different voices to merge."; return null; }
    return control("POST", "merge", { keep, gone });
  });
}

window.addEventListener("resize", () => { if (ui.snap) renderTimeline(ui.snap); });
setInterval(() => { if (ui.snap) renderBanners(ui.snap); }, 1000);
wireControls();
connect();
