// talktime dashboard: renders the meeting state pushed over /ws; the facilitator's controls call /api.
// The page holds no rule of its own: percents, clocks, bands, words, flags and the rows' order all
// come in the state (tracker/meeting/view.py); this file only puts them on the screen.
"use strict";

const $ = (id) => document.getElementById(id);
const PALETTE = ["#4e9cff", "#ff9f43", "#2ed573", "#ff6b9a", "#b197fc", "#ffd32a", "#1dd1c1", "#ff7f50",
                 "#74c0fc", "#d3f261", "#e599f7", "#63e6be"];

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
};

// ----------------------------------------------------------------------------- formatting

function colorOf(id) { return ui.colors.get(id) || "#5b6673"; }

function assignColors(s) {
  // A voice keeps its colour; a new one gets the first colour no present voice has.
  const present = s.speakers.filter((p) => p.kind !== "roster" && p.present).sort((a, b) => a.id - b.id);
  const live = new Set(present.map((p) => p.id));
  for (const id of ui.colors.keys()) if (!live.has(id)) ui.colors.delete(id);
  for (const p of present) {
    if (ui.colors.has(p.id)) continue;
    const used = new Set(ui.colors.values());
    ui.colors.set(p.id, PALETTE.find((c) => !used.has(c)) || PALETTE[p.id % PALETTE.length]);
  }
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
    if (msg.type === "hello") setRole(msg.role);
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
  document.body.dataset.counting = String(s.display.counting);
  $("clock").textContent = s.display.clock;
  $("status").textContent = s.display.status_text;
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

function renderBalance(s) {
  // During the warm-up the score is shown but not judged (no band; the reading says it is too early).
  $("balance").textContent = s.display.balance;
  $("balance").className = `balance ${s.display.band || ""}`;
  $("reading").textContent = s.display.reading;
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
  const id = s.display.report_meeting_id;
  box.hidden = !id;
  if (box.hidden) return;
  $("report-which").textContent = id === s.meeting_id ? "Report of this meeting:" : "Report of the previous meeting:";
  for (const fmt of ["html", "pdf", "csv", "json"]) {
    $(`report-${fmt}`).href = `/api/meetings/${encodeURIComponent(id)}/report?format=${fmt}`;
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
  $("views").querySelector('[data-view="recent"]').textContent = s.display.recent_label;
  $("views").querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.view === ui.view)));
}

const NO_FIGURES = { share: 0, percent: null, time: "", provisional: 0 };

function viewFigures(s) {
  // id -> {share, percent, time, provisional} for the chosen view, as the state carries them
  const out = new Map();
  if (ui.view.startsWith("phase:")) {
    const phase = s.phases[Number(ui.view.slice(6))];
    if (phase) phase.speakers.forEach((p) => out.set(p.id, { share: p.share, percent: p.percent, time: p.talk_time, provisional: 0 }));
    return out;
  }
  const recent = ui.view === "recent";
  s.speakers.forEach((p) => out.set(p.id, recent
    ? { share: p.recent_share, percent: p.recent_percent, time: p.recent_talk_time, provisional: 0 }
    : { share: p.share, percent: p.percent, time: p.talk_time,
        provisional: p.talk_time_s > 0 ? (p.share * p.provisional_s) / p.talk_time_s : 0 }));
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
  const fill = el("div", "fill"), pending = el("div", "pending"), equal = el("div", "equal");
  pending.title = "heard, not yet decided who said it";
  track.append(fill, pending, equal);
  const meta = el("div", "meta");
  li.append(name, nums, track, meta);
  return { li, name, who, badges, share, time, fill, pending, equal, meta };
}

function renderBars(s) {
  const people = s.speakers.filter((p) => p.present);  // in the state's order (the server ranks them)
  const figures = viewFigures(s);
  const equal = s.equal_share || 0;
  const top = Math.max(0, ...people.map((p) => (figures.get(p.id) || NO_FIGURES).share));
  const scale = Math.max(top, equal * 1.25, 0.01) * 1.05;
  $("equal-share").textContent = equal ? `(${s.display.equal_percent}% each for ${s.group.people})` : "";
  const list = $("bars");
  const seen = new Set();
  people.forEach((p) => {
    seen.add(p.id);
    let row = ui.rows.get(p.id);
    if (!row) { row = newRow(p.id); ui.rows.set(p.id, row); }
    updateRow(row, p, figures.get(p.id) || NO_FIGURES, equal, scale);
  });
  for (const [id, row] of ui.rows) if (!seen.has(id)) { row.li.remove(); ui.rows.delete(id); }
  if (ui.editing === null) {
    people.forEach((p) => list.append(ui.rows.get(p.id).li));  // keeps order; moving nodes is cheap
  }
  $("no-voices").hidden = people.length > 0;
  const phantoms = s.speakers.filter((p) => !p.present);
  $("phantoms").hidden = phantoms.length === 0;
  const shown = phantoms.slice(0, 4).map((p) => `${p.name} (${p.talk_time})`);
  if (phantoms.length > 4) shown.push(`${phantoms.length - 4} more`);
  $("phantoms").textContent = phantoms.length
    ? `Brief voices, not counted: ${shown.join(", ")}. If one is a person here, merge it into their voice.`
    : "";
}

function updateRow(row, p, f, equal, scale) {
  row.li.classList.toggle("expected", p.expected);
  if (ui.editing !== p.id) row.who.textContent = p.name;
  row.share.textContent = f.percent === null || f.percent === undefined ? "–" : `${f.percent}%`;
  row.time.textContent = f.time;
  // Decided talk solid, talk not yet decided lighter after it (the shown figure never goes back).
  row.fill.style.width = `${(100 * (f.share - f.provisional)) / scale}%`;
  row.fill.style.background = colorOf(p.id);
  row.pending.style.left = row.fill.style.width;
  row.pending.style.width = `${(100 * f.provisional) / scale}%`;
  row.pending.style.background = colorOf(p.id);
  row.pending.hidden = !(f.provisional > 0);
  row.equal.style.left = `${(100 * equal) / scale}%`;
  row.equal.hidden = !equal;
  const badges = [];
  if (p.quiet) badges.push(["badge ask", "Ask them"]);
  if (p.dominant) badges.push(["badge dom", "Dominating"]);
  if (p.remote) badges.push(["badge remote", "Remote"]);
  if (p.kind === "profile") badges.push(["badge profile", "Voice profile"]);
  const canKeep = ui.role === "facilitator" && p.kind === "named";
  const key = badges.map((b) => b[1]).join("|") + (canKeep ? "|keep" : "");
  if (row.badges.dataset.key !== key) {
    row.badges.dataset.key = key;
    row.badges.replaceChildren(...badges.map(([cls, text]) => el("span", cls, text)));
    if (canKeep) row.badges.append(keepVoiceButton(p));
  }
  row.meta.textContent = p.expected
    ? "on the roster · counts at zero until they speak"
    : `${p.turns} turn${p.turns === 1 ? "" : "s"} · longest ${p.longest_turn} · ${p.last_spoke}` + overlapNote(p);
}

function overlapNote(p) {
  // null when the engine cannot see two people at once (the Overlap row says so).
  if (p.overlap === null || p.overlap === undefined) return "";
  return ` · overlap ${p.overlap} · interrupted others ${p.interruptions_made}×, was interrupted ${p.interruptions_suffered}×`;
}

function renderFlags(s) {
  const quiet = s.speakers.filter((p) => p.quiet);
  const dominant = s.speakers.filter((p) => p.dominant);
  const item = (name, note) => { const li = el("li"); li.append(el("span", "", name), el("span", "", note)); return li; };
  $("quiet").replaceChildren(...quiet.map((p) => item(p.name, p.quiet)));
  $("dominant").replaceChildren(...dominant.map((p) => item(p.name, `${p.percent}% of the talk`)));
  $("quiet-none").hidden = quiet.length > 0;
  $("dominant-none").hidden = dominant.length > 0;
  const why = s.display.too_early;
  $("quiet-none").textContent = why ? `Nobody yet: ${why}.` : "Nobody has been left out so far.";
  $("dominant-none").textContent = why ? `Nobody yet: ${why}.` : "Nobody is dominating.";
}

function renderFigures(s) {
  const rows = s.display.figures;
  const list = $("figures");
  const key = JSON.stringify(rows);
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", "", k), el("dd", "", v)]));
}

// ----------------------------------------------------------------------------- timeline

function renderTimeline(s) {
  const canvas = $("timeline");
  const people = s.speakers.filter((p) => p.kind !== "roster" && p.present).sort((a, b) => a.id - b.id);
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
  const total = s.display.timeline_s;
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
  ctx.fillStyle = "#8b97a3";
  const axisY = top + Math.max(1, people.length) * laneH + axisH / 2;
  const ticks = s.display.ticks;
  const apart = ticks.length > 1 ? x(ticks[1][0]) - x(ticks[0][0]) : plotW;
  const every = Math.max(1, Math.ceil(60 / Math.max(1, apart)));  // a narrow screen labels every other one
  ticks.forEach(([t, label], k) => { if (k % every === 0) ctx.fillText(label, Math.min(x(t), width - 40), axisY); });
  $("phase-now").textContent = s.display.phase_now;
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
  const voices = s.speakers.filter((p) => p.kind !== "roster");
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
