/* kvmcluster's Cockpit page.
 *
 * Everything it knows and does goes through clusterctl, run by Cockpit's
 * bridge (cockpit.spawn, with --output xml): Cockpit provides the login,
 * TLS and privilege, and the page never talks to the daemons another way.
 * `clusterctl events` is kept running for live updates; `status` and
 * `node list` are read again after each event (and every few seconds, so
 * a node that went away shows even when no event came); `history` gives
 * the last action of each VM and the timeline of the chosen one. */
/* global cockpit */
"use strict";

(function () {
    const CTL = "clusterctl";
    const POLL_MS = 5000;
    const RESTART_EVENTS_MS = 3000;

    const st = {
        status: null, /* <status> element */
        nodes: [], /* objects from `node list` */
        vms: [], /* objects from the <vms> of `status` */
        last: {}, /* vm -> its last ended action (history or event) */
        progress: {}, /* vm -> last migration event */
        begun: {}, /* ids of the actions whose start was logged */
        detail: null, /* the VM whose explain/timeline is shown */
        refreshing: false,
        again: false,
    };

    /* ------------------------------------------------------- clusterctl */

    /* Runs clusterctl ARGS --output xml; resolves with its stdout. */
    function ctl(args) {
        return cockpit.spawn([CTL].concat(args, ["--output", "xml"]), {
            superuser: "try",
            err: "message",
        });
    }

    function parseXml(text) {
        const doc = new DOMParser().parseFromString(text, "application/xml");
        if (doc.getElementsByTagName("parsererror").length)
            throw new Error("clusterctl gave unreadable XML: " +
                            text.slice(0, 200));
        return doc;
    }

    function attrs(el) {
        const o = {};
        for (const a of el.attributes)
            o[a.name] = a.value;
        return o;
    }

    function errText(ex) {
        return (ex && (ex.message || ex.problem)) || String(ex);
    }

    /* ---------------------------------------------------------- helpers */

    function $(id) {
        return document.getElementById(id);
    }

    function el(tag, props, children) {
        const e = document.createElement(tag);
        for (const k in props || {}) {
            if (k === "class")
                e.className = props[k];
            else if (k === "text")
                e.textContent = props[k];
            else if (k.startsWith("on"))
                e.addEventListener(k.slice(2), props[k]);
            else
                e.setAttribute(k, props[k]);
        }
        for (const c of children || [])
            if (c !== null && c !== undefined)
                e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
        return e;
    }

    /* Two kinds of error: reading the cluster ("status", cleared by the
     * next good read) and the last action's ("action", kept until the
     * next action succeeds: a refusal must not vanish with the next
     * refresh, which follows every action). */
    const errors = { status: "", action: "" };

    function showError(msg, kind) {
        errors[kind || "status"] = msg || "";
        const text = [errors.action, errors.status].filter(x => x).join("\n");
        const e = $("error");
        e.textContent = text;
        e.hidden = !text;
    }

    function log(msg) {
        const ul = $("log");
        const t = new Date().toTimeString().slice(0, 8);
        ul.insertBefore(el("li", { text: t + " " + msg }), ul.firstChild);
        while (ul.children.length > 200)
            ul.removeChild(ul.lastChild);
    }

    function mib(b) {
        return (Number(b) / 1048576).toFixed(0) + " MiB";
    }

    function secs(ms) {
        return (Number(ms) / 1000).toFixed(1) + " s";
    }

    /* What an ended action says, in a few words. */
    function describe(a) {
        const arrow = (a.from ? a.from + " \u2192 " : "\u2192 ") + (a.to || "?");
        let s;
        if (a.cause === "failover")
            s = "failover " + arrow;
        else if (a.kind === "live-migration" || a.kind === "quick-migration")
            s = a.kind.replace("-migration", "") + " move " + arrow;
        else
            s = a.kind + " " + arrow + (a.cause ? " (" + a.cause + ")" : "");
        if (a.status === "failed")
            return s + ": failed" + (a.msg ? ": " + a.msg : "");
        if (a.kind === "live-migration" || a.kind === "quick-migration")
            s += ": downtime " + a["downtime-ms"] + " ms";
        /* The three phases; without start-ms (a history from before the
         * split) the lease wait holds the start. */
        if (a["failover-ms"])
            s += " in " + secs(a["failover-ms"]) +
                 " (detection " + secs(a["detection-ms"] || 0) +
                 (a["start-ms"] !== undefined
                     ? ", lease wait " + secs(a["lease-wait-ms"] || 0) +
                       ", start " + secs(a["start-ms"])
                     : ", lease wait and start " + secs(a["lease-wait-ms"] || 0)) + ")";
        return s;
    }

    /* ------------------------------------------------------------ state */

    function refresh() {
        if (st.refreshing) {
            st.again = true;
            return Promise.resolve();
        }
        st.refreshing = true;
        return Promise.all([ctl(["status"]), ctl(["node", "list"])])
                .then(([status, nodes]) => {
                    const s = parseXml(status);
                    st.status = s.getElementsByTagName("status")[0] || null;
                    st.vms = Array.from(s.getElementsByTagName("vm")).map(attrs);
                    st.nodes = Array.from(parseXml(nodes).getElementsByTagName("node"))
                            .map(attrs);
                    showError(null);
                    render();
                })
                .catch(ex => showError("clusterctl status: " + errText(ex)))
                .then(() => {
                    st.refreshing = false;
                    if (st.again) {
                        st.again = false;
                        return refresh();
                    }
                });
    }

    /* The last ended action of every VM, from the history. */
    function loadHistory() {
        return ctl(["history"]).then(text => {
            for (const a of parseXml(text).getElementsByTagName("action")) {
                const o = attrs(a);
                st.last[o.vm] = o;
            }
            render();
            if (st.detail)
                showDetail(st.detail, false);
        })
                .catch(ex => showError("clusterctl history: " + errText(ex)));
    }

    /* ----------------------------------------------------------- events */

    let evProc = null;

    function onEvent(line) {
        let ev;
        try {
            ev = attrs(parseXml(line).documentElement);
        } catch (ex) {
            return;
        }
        switch (ev.type) {
        case "migration":
            st.progress[ev.vm] = ev;
            render();
            return;
        case "action":
            if (ev.status === "active") {
                /* Announced again at each step: logged once. */
                if (st.begun[ev.id])
                    break;
                st.begun[ev.id] = true;
                log("VM " + ev.vm + ": " + ev.kind + " (" + ev.cause + ") " +
                    (ev.from ? ev.from + " " : "") + "\u2192 " + ev.to + " started");
            } else {
                delete st.progress[ev.vm];
                delete st.begun[ev.id];
                st.last[ev.vm] = ev;
                log("VM " + ev.vm + ": " + describe(ev));
                /* The history has the failover's split: read it again. */
                loadHistory();
            }
            break;
        case "vm":
            log("VM " + ev.vm + " " + ev.state + (ev.node ? " on " + ev.node : ""));
            break;
        case "node":
            log("node " + ev.node + " " + ev.state);
            break;
        case "vm-wait":
            if (ev.wait)
                log("VM " + ev.vm + " waiting: " + ev.wait +
                    (ev["wait-msg"] ? " (" + ev["wait-msg"] + ")" : ""));
            break;
        case "storage":
            log("node " + ev.node + ": storage " + ev.state +
                (ev.volume ? " (" + ev.volume + ")" : ""));
            break;
        }
        refresh();
    }

    function startEvents() {
        let buf = "";
        $("events-state").textContent = "connecting";
        evProc = cockpit.spawn([CTL, "events", "--output", "xml"],
                               { superuser: "try", err: "message" });
        evProc.stream(data => {
            $("events-state").textContent = "live";
            buf += data;
            let nl;
            while ((nl = buf.indexOf("\n")) >= 0) {
                const line = buf.slice(0, nl).trim();
                buf = buf.slice(nl + 1);
                if (line)
                    onEvent(line);
            }
        });
        const proc = evProc;
        proc.then(() => restartEvents("ended"))
                .catch(ex => restartEvents(errText(ex)));
        /* Events come only when something happens: a subscription that
         * did not fail at once is live. */
        window.setTimeout(() => {
            if (evProc === proc)
                $("events-state").textContent = "live";
        }, 1000);
        /* Subscribed: what happened before is read once. */
        refresh();
    }

    function restartEvents(why) {
        $("events-state").textContent = "disconnected (" + why + ")";
        evProc = null;
        window.setTimeout(startEvents, RESTART_EVENTS_MS);
    }

    /* ----------------------------------------------------------- render */

    function render() {
        const s = st.status ? attrs(st.status) : {};
        $("quorum").textContent = s.quorate === "yes"
            ? "quorate (" + s["total-votes"] + " of " + s["expected-votes"] + " votes)"
            : s.quorate ? "NOT quorate" : "?";
        $("members").textContent = st.status
            ? String(st.status.getElementsByTagName("member").length) : "?";
        const coord = st.nodes.find(n => n.coordinator === "yes");
        $("coordinator").textContent = coord ? coord.name : (s.coordinator || "none");
        $("self").textContent = s.node || "?";
        renderNodes();
        renderVms();
    }

    /* Whether `key` (what a table shows) changed since it was drawn: the
     * rows are rebuilt only then, so a button does not vanish under the
     * pointer at each refresh. */
    const drawn = {};
    function changed(table, key) {
        const k = JSON.stringify(key);
        if (drawn[table] === k)
            return false;
        drawn[table] = k;
        return true;
    }

    function renderNodes() {
        const tb = $("nodes").tBodies[0];
        if (!changed("nodes", st.nodes))
            return;
        tb.textContent = "";
        for (const n of st.nodes) {
            const online = n.online === "yes";
            const drain = n.state === "up";
            tb.appendChild(el("tr", { "data-node": n.name }, [
                el("td", { class: "node-name", text: n.name }),
                el("td", { text: n.nodeid }),
                el("td", { class: "node-state", text: n.state }),
                el("td", { class: online ? "node-online" : "node-online node-down",
                           text: online ? "yes" : "no (down)" }),
                el("td", { text: n.coordinator === "yes" ? "coordinator" : "" }),
                el("td", {}, [
                    el("button", {
                        class: drain ? "node-drain" : "node-resume",
                        text: drain ? "Drain\u2026" : "Resume\u2026",
                        onclick: () => drain ? askDrain(n.name) : askResume(n.name),
                    }),
                ]),
            ]));
        }
    }

    function activity(v) {
        const p = st.progress[v.name];
        if (!v.action)
            return v.wait ? "waiting: " + v.wait : "";
        const head = v.action + " " + (v["action-from"] ? v["action-from"] + " " : "") +
            "\u2192 " + v["action-to"];
        if (!p)
            return el("span", {}, [el("progress", { class: "move-progress" }), " " + head]);
        const t = Number(p.transferred);
        const r = Number(p.remaining);
        const pct = t + r > 0 ? Math.round(100 * t / (t + r)) : 0;
        return el("span", {}, [
            el("progress", { class: "move-progress", max: "100", value: String(pct) }),
            el("span", {
                class: "progress-text",
                text: head + ": pass " + p.pass + ", " + pct + "%, " + mib(r) +
                    " left" + (Number(p["dirty-rate"]) > 0 ? ", dirtied " +
                    mib(p["dirty-rate"]) + "/s" : "") + ", expected downtime " +
                    p["expected-downtime-ms"] + " ms",
            }),
        ]);
    }

    function renderVms() {
        const tb = $("vms").tBodies[0];
        if (!changed("vms", [st.vms, st.last, st.progress]))
            return;
        tb.textContent = "";
        for (const v of st.vms) {
            const last = st.last[v.name];
            const runs = v.target === "running";
            tb.appendChild(el("tr", { "data-vm": v.name }, [
                el("td", { class: "vm-name", text: v.name }),
                el("td", { class: "vm-state state-" + v.state, text: v.state }),
                el("td", { class: "vm-node", text: v.node || "\u2014" }),
                /* Whose hvagent reports holding the VM's lease: apart
                 * from the node only while a handoff is in flight. */
                el("td", {
                    class: "vm-lease" + (v.lease && v.node && v.lease !== v.node
                        ? " lease-apart" : ""),
                    title: "the node whose hvagent holds the VM's lease",
                    text: v.lease || "\u2014",
                }),
                el("td", { text: v.priority }),
                el("td", { text: v.target }),
                el("td", { class: "vm-activity" }, [activity(v)]),
                el("td", {
                    class: "vm-last" + (last && last.cause === "failover" ? " failover" : ""),
                    text: last ? describe(last) : "",
                }),
                el("td", {}, [
                    el("button", { class: "move-live", text: "Move live\u2026",
                                   onclick: () => askMove(v.name, "live") }),
                    el("button", { class: "move-quick", text: "Move quick\u2026",
                                   onclick: () => askMove(v.name, "quick") }),
                    el("button", { class: runs ? "vm-stop" : "vm-start",
                                   text: runs ? "Stop\u2026" : "Start\u2026",
                                   onclick: () => askStartStop(v.name, !runs) }),
                    el("button", { class: "vm-details", text: "Details",
                                   onclick: () => showDetail(v.name, true) }),
                ]),
            ]));
        }
    }

    /* ---------------------------------------------------------- actions */

    /* Shows the confirmation dialog; resolves with true on Confirm. */
    function confirmDialog(title, body) {
        return new Promise(resolve => {
            $("confirm-title").textContent = title;
            const b = $("confirm-body");
            b.textContent = "";
            for (const c of body)
                b.appendChild(typeof c === "string" ? el("p", { text: c }) : c);
            const done = ok => {
                $("confirm").hidden = true;
                $("confirm-ok").onclick = null;
                $("confirm-cancel").onclick = null;
                resolve(ok);
            };
            $("confirm-ok").onclick = () => done(true);
            $("confirm-cancel").onclick = () => done(false);
            $("confirm").hidden = false;
            $("confirm-ok").focus();
        });
    }

    /* What an action's answer says, in a few words: a move's XML gives
     * its result, target and downtime (its last line is only
     * "</move>"); other answers their msg, or their last line. */
    function summary(out) {
        let root = null;
        try {
            root = out.trim() ? parseXml(out).documentElement : null;
        } catch (ex) {
            return out.trim().split("\n").pop();
        }
        if (!root)
            return "done";
        const a = attrs(root);
        if (root.nodeName === "move")
            return (a.status || "done") + ", on " + (a.to || "?") +
                   (a["downtime-ms"] ? ", downtime " + a["downtime-ms"] + " ms" : "");
        return a.msg || "done";
    }

    /* Runs an action's clusterctl command, logging what it said. */
    function act(what, args) {
        log(what + "\u2026");
        return ctl(args)
                .then(out => {
                    log(what + ": " + summary(out));
                    showError(null, "action");
                })
                .catch(ex => {
                    log(what + " failed: " + errText(ex));
                    showError(what + ": " + errText(ex), "action");
                })
                .then(refresh);
    }

    function askMove(vm, mode) {
        const v = st.vms.find(x => x.name === vm) || {};
        const sel = el("select", { id: "move-target" },
                       [el("option", { value: "", text: "best (placement chooses)" })]);
        for (const n of st.nodes)
            if (n.name && n.name !== v.node && n.online === "yes" && n.state === "up")
                sel.appendChild(el("option", { value: n.name, text: n.name }));
        const live = el("input", { type: "radio", name: "move-mode", id: "move-mode-live",
                                   value: "live" });
        const quick = el("input", { type: "radio", name: "move-mode", id: "move-mode-quick",
                                    value: "quick" });
        (mode === "live" ? live : quick).checked = true;
        confirmDialog("Move VM " + vm, [
            "VM " + vm + " runs on " + (v.node || "no node") + ".",
            el("label", {}, [live, " live migration (the guest keeps running)"]),
            el("label", {}, [quick, " quick migration (saved, then restored)"]),
            el("label", {}, ["Target node: ", sel]),
        ]).then(ok => {
            if (!ok)
                return;
            const m = live.checked ? "live" : "quick";
            const args = ["move-vm", vm, "--" + m];
            if (sel.value)
                args.push("--to", sel.value);
            act("move " + vm + " (" + m + (sel.value ? " to " + sel.value : "") + ")", args);
        });
    }

    function askStartStop(vm, start) {
        confirmDialog((start ? "Start" : "Stop") + " VM " + vm, [
            start ? "The cluster will keep VM " + vm + " running."
                : "The cluster will shut VM " + vm + " down and keep it stopped.",
        ]).then(ok => {
            if (ok)
                act((start ? "start " : "stop ") + vm,
                    ["vm", start ? "start" : "stop", vm, "--no-wait"]);
        });
    }

    function askDrain(node) {
        confirmDialog("Drain node " + node, [
            "Every VM on " + node + " moves to other nodes; " + node +
            " takes no VMs until it is resumed.",
        ]).then(ok => {
            if (ok)
                act("drain " + node, ["node", "drain", node, "--no-wait"]);
        });
    }

    function askResume(node) {
        confirmDialog("Resume node " + node, [node + " takes VMs again."]).then(ok => {
            if (ok)
                act("resume " + node, ["node", "resume", node]);
        });
    }

    /* ----------------------------------------------------------- detail */

    function showDetail(vm, scroll) {
        st.detail = vm;
        $("detail").hidden = false;
        $("detail-vm").textContent = vm;
        ctl(["explain", vm])
                .then(text => {
                    $("explain").textContent = parseXml(text).documentElement.textContent.trim();
                })
                .catch(ex => {
                    $("explain").textContent = "explain: " + errText(ex);
                });
        ctl(["history", vm])
                .then(text => {
                    const acts = Array.from(parseXml(text).getElementsByTagName("action"));
                    drawTimeline(acts.slice(-12));
                    const lastLive = acts.filter(a => a.getElementsByTagName("pass").length).pop();
                    drawPasses(lastLive);
                })
                .catch(ex => {
                    $("timeline").textContent = "history: " + errText(ex);
                });
        if (scroll)
            $("detail").scrollIntoView();
    }

    const SVG = "http://www.w3.org/2000/svg";

    function svg(tag, props, text) {
        const e = document.createElementNS(SVG, tag);
        for (const k in props)
            e.setAttribute(k, props[k]);
        if (text !== undefined)
            e.textContent = text;
        return e;
    }

    function kindClass(a) {
        if (a.cause === "failover")
            return "#c9190b";
        if (a.kind === "live-migration")
            return "#06c";
        if (a.kind === "quick-migration")
            return "#8476d1";
        return "#6a6e73";
    }

    /* One bar per action, in time order: its downtime (a failover's whole
     * time), log scale so 10 ms and 60 s both show; its passes above. */
    function drawTimeline(acts) {
        const box = $("timeline");
        box.textContent = "";
        if (!acts.length) {
            box.textContent = "no actions in the history yet";
            return;
        }
        const W = 720;
        const H = 200;
        const top = 20;
        const base = H - 40;
        const left = 50;
        const step = (W - left - 10) / Math.max(acts.length, 1);
        const maxLog = 6; /* 1000 s in ms */
        const g = svg("svg", { width: W, height: H, class: "timeline", role: "img" });
        for (let d = 0; d <= maxLog; d += 2) {
            const y = base - (base - top) * d / maxLog;
            g.appendChild(svg("line", { x1: left, x2: W - 10, y1: y, y2: y, stroke: "#ddd" }));
            g.appendChild(svg("text", { x: 2, y: y + 4 },
                              d === 0 ? "1 ms" : d === 6 ? "1000 s" : Math.pow(10, d) / 1000 >= 1
                                  ? Math.pow(10, d) / 1000 + " s" : Math.pow(10, d) + " ms"));
        }
        acts.forEach((n, i) => {
            const a = attrs(n);
            const ms = Number(a["failover-ms"] || a["downtime-ms"] || 0);
            const h = (base - top) * Math.min(Math.log10(Math.max(ms, 1)), maxLog) / maxLog;
            const x = left + i * step + step * 0.2;
            const w = step * 0.6;
            const bar = svg("rect", { x, y: base - h, width: w, height: Math.max(h, 1),
                                      fill: kindClass(a), class: "bar" });
            bar.appendChild(svg("title", {}, describe(a)));
            g.appendChild(bar);
            /* A failover's bar in its phases, each its share of the bar
             * (the scale is logarithmic, the shares are not). */
            if (a["failover-ms"] && a["start-ms"] !== undefined) {
                const phases = [["detection", a["detection-ms"], "#f0ab00"],
                                ["lease wait", a["lease-wait-ms"], "#c9190b"],
                                ["start", a["start-ms"], "#3e8635"]];
                let y = base;
                phases.forEach(([name, v, colour]) => {
                    const ph = ms > 0 ? h * Number(v || 0) / ms : 0;
                    y -= ph;
                    const seg = svg("rect", { x, y, width: w, height: ph, fill: colour,
                                              class: "phase phase-" + name.replace(" ", "-") });
                    seg.appendChild(svg("title", {}, name + " " + secs(v || 0)));
                    g.appendChild(seg);
                });
            }
            const passes = n.getElementsByTagName("pass").length;
            g.appendChild(svg("text", { x: x + w / 2, y: base - h - 4, "text-anchor": "middle" },
                              ms + " ms" + (passes ? ", " + passes + " p" : "")));
            const when = new Date(Number(a.ended) * 1000).toTimeString().slice(0, 8);
            g.appendChild(svg("text", { x: x + w / 2, y: base + 14, "text-anchor": "middle" }, when));
            g.appendChild(svg("text", { x: x + w / 2, y: base + 28, "text-anchor": "middle" },
                              (a.from || "") + "\u2192" + a.to));
        });
        box.appendChild(g);
    }

    /* The passes of the last live move: what was left to send after each
     * (the migration converging), and the dirty rate where recorded. */
    function drawPasses(n) {
        const box = $("passes");
        box.textContent = "";
        if (!n)
            return;
        const a = attrs(n);
        const ps = Array.from(n.getElementsByTagName("pass")).map(attrs);
        const W = 720;
        const H = 180;
        const base = H - 32;
        const left = 50;
        const step = (W - left - 10) / ps.length;
        const max = Math.max(1, ...ps.map(p => Number(p.transferred) + Number(p.remaining)));
        box.appendChild(el("p", {
            class: "legend",
            text: "Passes of the live move " + a.from + " \u2192 " + a.to +
                " (blue: sent so far, grey: left to send; label: left to send," +
                " below: the rate the guest dirtied memory):",
        }));
        const g = svg("svg", { width: W, height: H, class: "passes", role: "img" });
        ps.forEach((p, i) => {
            const x = left + i * step + step * 0.15;
            const w = step * 0.7;
            const mid = x + w / 2;
            const t = (base - 30) * Number(p.transferred) / max;
            const r = (base - 30) * Number(p.remaining) / max;
            const dirty = Number(p["dirty-rate"]) > 0 ? mib(p["dirty-rate"]) + "/s" : "";
            const bar = svg("g", { class: "pass" });
            bar.appendChild(svg("title", {},
                                "pass " + p.n + ": " + mib(p.transferred) + " sent, " +
                                mib(p.remaining) + " left" + (dirty ? ", dirtied " + dirty : "") +
                                ", expected downtime " + p["expected-downtime-ms"] + " ms"));
            bar.appendChild(svg("rect", { x, y: base - t, width: w, height: t, fill: "#06c" }));
            bar.appendChild(svg("rect", { x, y: base - t - r, width: w, height: r, fill: "#bbb" }));
            bar.appendChild(svg("text", { x: mid, y: base - t - r - 4, "text-anchor": "middle" },
                                mib(p.remaining)));
            bar.appendChild(svg("text", { x: mid, y: base + 13, "text-anchor": "middle" },
                                "pass " + p.n));
            if (dirty)
                bar.appendChild(svg("text", { x: mid, y: base + 26, "text-anchor": "middle" },
                                    dirty));
            g.appendChild(bar);
        });
        box.appendChild(g);
    }

    /* ------------------------------------------------------------- init */

    function init() {
        startEvents();
        loadHistory();
        window.setInterval(refresh, POLL_MS);
    }

    if (document.readyState === "loading")
        document.addEventListener("DOMContentLoaded", init);
    else
        init();
}());
