// Copyright 2026 UnityKernel contributors. Licensed under the Apache License, Version 2.0.
// The event-flow editor: the running graph (GET /api/flow) drawn with React Flow. Every edit
// is an operation sent to POST /api/flow/check, which answers with the graph as it would be
// and every problem the config parser finds, on its node; Apply writes the files
// (POST /api/flow/apply), Undo restores them (POST /api/flow/undo).
import React, { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import {
  ReactFlow, ReactFlowProvider, Background, Controls, Handle, Position, useNodesState,
  useReactFlow,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { getJson, postJson } from './api.js';

const COLUMNS = { topic: 0, rule: 1, tier: 2, module: 3, llm: 3, mirror: 3 };
const COLUMN_X = 310;
const HEIGHT = { topic: 62, rule: 62, tier: 96, module: 62, llm: 80, mirror: 70 };
const GAP = 14;

// -- nodes ------------------------------------------------------------------------------------

function Issues({ data }) {
  if (!data.issues || !data.issues.length) return null;
  return (
    <ul className="node-issues" data-testid="node-issues">
      {data.issues.map((text) => <li key={text}>{text}</li>)}
    </ul>
  );
}

function Box({ data, kind, title, children, source = true, target = true }) {
  const bad = data.issues && data.issues.length;
  return (
    <div className={`fnode fnode-${kind}${bad ? ' has-issues' : ''}`} data-testid={`node-${kind}`}>
      {target && <Handle type="target" position={Position.Left} />}
      <div className="fnode-title">{title}</div>
      {children}
      <Issues data={data} />
      {source && <Handle type="source" position={Position.Right} />}
    </div>
  );
}

function rate(value) {
  return value === null || value === undefined ? '' : `${Number(value).toFixed(1)}/s`;
}

function TopicNode({ data }) {
  const state = data.excluded ? 'excluded' : data.rule === null ? 'no rule' : `→ ${data.tier}`;
  return (
    <Box data={data} kind="topic" title={data.name} target={false}>
      <div className="fnode-sub">
        <span className="muted">{(data.types || []).join(', ') || (data.source === 'bus' ? 'on the bus' : '')}</span>
      </div>
      <div className="fnode-sub"><span data-testid="topic-rate">{rate(data.rate)}</span> <span className="muted">{state}</span></div>
    </Box>
  );
}

function RuleNode({ data }) {
  const extra = [data.mirror === false ? 'not mirrored' : null,
    data.retention_maxlen ? `keep ${data.retention_maxlen}` : null,
    data.retention_max_age_s ? `${data.retention_max_age_s} s` : null].filter(Boolean);
  return (
    <Box data={data} kind="rule" title={`#${data.index} ${data.pattern ?? data.invalid ?? ''}`}>
      <div className="fnode-sub">→ <b>{String(data.tier ?? '?')}</b> <span className="muted">{extra.join(', ')}</span></div>
    </Box>
  );
}

function TierNode({ data }) {
  const q = data.qos || {};
  return (
    <Box data={data} kind="tier" title={data.name}>
      <div className="fnode-sub"><span data-testid="tier-rate">{rate(data.events_per_s)}</span>, depth {data.depth ?? 0}/{data.capacity ?? '?'}, drops {data.dropped ?? 0}</div>
      <div className="fnode-sub muted" data-testid="tier-published">published {data.published ?? 0}</div>
      <div className="fnode-sub muted">{q.reliability}, {q.history} {q.depth}</div>
    </Box>
  );
}

function ModuleNode({ data }) {
  return (
    <Box data={data} kind="module" title={data.name} source={false}>
      <div className="fnode-sub">{data.kind || 'unknown'} · <span className={`state-${data.state}`}>{data.state || 'not found'}</span> · {data.enabled ? 'enabled' : 'not enabled'}</div>
    </Box>
  );
}

function LlmNode({ data }) {
  return (
    <Box data={data} kind="llm" title={`LLM route ${data.name}`} source={false}>
      <div className="fnode-sub muted">{(data.match || []).join(', ')}</div>
      <div className="fnode-sub">models: {(data.models || []).join(' → ') || 'none'}</div>
      <div className="fnode-sub muted">bridge: {data.bridge || 'not running'}</div>
    </Box>
  );
}

function MirrorNode({ data }) {
  return (
    <Box data={data} kind="mirror" title="Audit mirror (Redis)" source={false}>
      <div className="fnode-sub">{data.enabled ? (data.connected ? 'Redis reachable' : 'Redis unreachable') : 'off'}</div>
      <div className="fnode-sub muted">written {data.written ?? 0}, lag {data.journal_pending ?? 0}</div>
    </Box>
  );
}

const NODE_TYPES = { topic: TopicNode, rule: RuleNode, tier: TierNode, module: ModuleNode,
  llm: LlmNode, mirror: MirrorNode };

// -- layout -----------------------------------------------------------------------------------

// Room for the problems listed under a node (about 38 characters a line at 12 px).
function issueHeight(issues) {
  return (issues || []).reduce((h, text) => h + 15 * Math.ceil(text.length / 38), 0);
}

function layout(graph, showExcluded) {
  const rows = [0, 0, 0, 0];
  const order = { llm: 0, module: 1, mirror: 2 };
  const nodes = graph.nodes
    .filter((n) => showExcluded || n.kind !== 'topic' || !n.data.excluded)
    .slice()
    .sort((a, b) => (COLUMNS[a.kind] - COLUMNS[b.kind]) || ((order[a.kind] ?? 0) - (order[b.kind] ?? 0)));
  const ids = new Set(nodes.map((n) => n.id));
  const placed = nodes.map((n) => {
    const col = COLUMNS[n.kind];
    const y = rows[col];
    rows[col] += HEIGHT[n.kind] + GAP + issueHeight(n.data.issues);
    return { id: n.id, type: n.kind, position: { x: col * COLUMN_X, y }, data: n.data,
      draggable: n.kind === 'topic' || n.kind === 'rule', connectable: true,
      ariaLabel: `${n.kind} ${n.data.name ?? n.data.pattern ?? n.id}` };
  });
  const edges = graph.edges.filter((e) => ids.has(e.source) && ids.has(e.target)).map((e) => ({
    id: e.id, source: e.source, target: e.target, className: `edge-${e.kind}`,
    animated: e.kind === 'rule' || e.kind === 'tier', focusable: false,
  }));
  return { nodes: placed, edges };
}

// Live counters (rates, depth, state) come from the running graph even while an edit is shown.
function withLive(preview, live) {
  if (!preview) return live;
  const byId = Object.fromEntries(live.nodes.map((n) => [n.id, n.data]));
  const keep = ['rate', 'events_per_s', 'drops_per_s', 'depth', 'capacity', 'published',
    'dropped', 'state', 'connected', 'written', 'journal_pending', 'bridge'];
  return { ...preview, nodes: preview.nodes.map((n) => {
    const now = byId[n.id];
    if (!now) return n;
    const data = { ...n.data };
    for (const k of keep) if (k in now) data[k] = now[k];
    return { ...n, data };
  }) };
}

// -- side panel -------------------------------------------------------------------------------

function Field({ label, children }) {
  return <label className="field"><span>{label}</span>{children}</label>;
}

function num(value) {
  if (value === '' || value === null || value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : value;
}

function TopicPanel({ node, choices, routes, add }) {
  const d = node.data;
  const [tier, setTier] = useState(d.tier || 'CRITICAL');
  const [route, setRoute] = useState(routes[0] || '');
  const [newRoute, setNewRoute] = useState('');
  const [models, setModels] = useState(choices.models.slice(0, 1));
  return (
    <>
      <p className="muted">{(d.types || []).join(', ')} · {rate(d.rate)} · {d.excluded ? 'excluded from intake' : d.rule === null ? 'no rule matches' : `rule #${d.rule} → ${d.tier}`}</p>
      <Field label="Route to tier">
        <select value={tier} onChange={(e) => setTier(e.target.value)} data-testid="route-tier">
          {choices.tiers.map((t) => <option key={t}>{t}</option>)}
        </select>
      </Field>
      <button type="button" data-testid="route-topic" onClick={() => add({ op: 'route_topic', topic: d.name, tier })}>Route {d.name} to {tier}</button>
      <h4>LLM</h4>
      {routes.length > 0 && (
        <>
          <Field label="Attach to LLM route">
            <select value={route} onChange={(e) => setRoute(e.target.value)} data-testid="attach-route">
              {routes.map((r) => <option key={r}>{r}</option>)}
            </select>
          </Field>
          <button type="button" data-testid="attach-llm" onClick={() => add({ op: 'attach_llm', route, pattern: d.name })}>Attach to {route}</button>
        </>
      )}
      <Field label="New LLM route for this topic (name)">
        <input value={newRoute} onChange={(e) => setNewRoute(e.target.value)} placeholder="e.g. bumper_talk" data-testid="new-route-name" />
      </Field>
      <ModelChain known={choices.models} value={models} onChange={setModels} />
      <button type="button" data-testid="new-route" disabled={!newRoute} onClick={() => add({ op: 'set_llm_route', name: newRoute, values: { match: [d.name], models } })}>Make route {newRoute}</button>
    </>
  );
}

function ModelChain({ known, value, onChange }) {
  const move = (i, by) => {
    const next = value.slice();
    const [m] = next.splice(i, 1);
    next.splice(Math.max(0, Math.min(next.length, i + by)), 0, m);
    onChange(next);
  };
  return (
    <fieldset className="chain" data-testid="model-chain">
      <legend>Model chain (tried in this order)</legend>
      <ol>
        {value.map((m, i) => (
          <li key={m}>
            {m}{' '}
            <button type="button" aria-label={`move ${m} up`} disabled={i === 0} onClick={() => move(i, -1)}>↑</button>
            <button type="button" aria-label={`move ${m} down`} disabled={i === value.length - 1} onClick={() => move(i, 1)}>↓</button>
            <button type="button" aria-label={`remove ${m}`} onClick={() => onChange(value.filter((x) => x !== m))}>✕</button>
          </li>
        ))}
      </ol>
      {known.filter((m) => !value.includes(m)).map((m) => (
        <button type="button" key={m} data-testid={`add-model-${m}`} onClick={() => onChange([...value, m])}>+ {m}</button>
      ))}
      {!known.length && <p className="muted">no models in the bridge's config</p>}
    </fieldset>
  );
}

function RulePanel({ node, choices, rules, routes, add }) {
  const d = node.data;
  const [form, setForm] = useState({ pattern: d.pattern ?? '', tier: d.tier ?? 'NORMAL',
    mirror: d.mirror !== false, retention_maxlen: d.retention_maxlen ?? '',
    retention_max_age_s: d.retention_max_age_s ?? '' });
  const [route, setRoute] = useState(routes[0] || '');
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  const values = { pattern: form.pattern, tier: form.tier, mirror: form.mirror ? null : false,
    retention_maxlen: num(form.retention_maxlen), retention_max_age_s: num(form.retention_max_age_s) };
  return (
    <form onSubmit={(e) => { e.preventDefault(); add({ op: 'set_rule', index: d.index, values }); }}>
      <Field label="Pattern (* one segment, ** any depth)"><input value={form.pattern} onChange={set('pattern')} data-testid="rule-pattern" /></Field>
      <Field label="Tier"><select value={form.tier} onChange={set('tier')} data-testid="rule-tier">{choices.tiers.map((t) => <option key={t}>{t}</option>)}</select></Field>
      <Field label="Mirror to the audit trail"><input type="checkbox" checked={form.mirror} onChange={set('mirror')} data-testid="rule-mirror" /></Field>
      <Field label="Keep at most (entries per topic)"><input value={form.retention_maxlen} onChange={set('retention_maxlen')} inputMode="numeric" placeholder="redis.maxlen" data-testid="rule-maxlen" /></Field>
      <Field label="Keep for at most (seconds)"><input value={form.retention_max_age_s} onChange={set('retention_max_age_s')} inputMode="decimal" placeholder="no limit" data-testid="rule-max-age" /></Field>
      <div className="buttons">
        <button type="submit" data-testid="rule-set">Set rule #{d.index}</button>
        <button type="button" disabled={d.index === 0} onClick={() => add({ op: 'move_rule', index: d.index, to: d.index - 1 })}>Move up</button>
        <button type="button" disabled={d.index >= rules - 1} onClick={() => add({ op: 'move_rule', index: d.index, to: d.index + 1 })}>Move down</button>
        <button type="button" onClick={() => add({ op: 'remove_rule', index: d.index })}>Delete</button>
      </div>
      {routes.length > 0 && (
        <div className="buttons">
          <select value={route} onChange={(e) => setRoute(e.target.value)} aria-label="LLM route">{routes.map((r) => <option key={r}>{r}</option>)}</select>
          <button type="button" onClick={() => add({ op: 'attach_llm', route, pattern: form.pattern })}>Attach pattern to LLM route</button>
        </div>
      )}
    </form>
  );
}

function TierPanel({ node, choices, add }) {
  const d = node.data;
  const [qos, setQos] = useState({ ...d.qos });
  const set = (k) => (e) => setQos({ ...qos, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  const values = {};
  for (const k of choices.qos_keys) {
    const v = k in choices.qos || typeof qos[k] === 'boolean' ? qos[k] : num(qos[k]);
    if (JSON.stringify(v ?? null) !== JSON.stringify(d.qos[k] ?? null)) values[k] = v ?? null;
  }
  return (
    <form onSubmit={(e) => { e.preventDefault(); add({ op: 'set_qos', tier: d.name, values }); }}>
      <p className="muted">{rate(d.events_per_s)}, depth {d.depth ?? 0}/{d.capacity ?? '?'}, {d.workers} worker(s), overflow {d.overflow}</p>
      <h4>QoS its subscriptions start from</h4>
      {Object.entries(choices.qos).map(([k, options]) => (
        <Field key={k} label={k}><select value={qos[k] ?? ''} onChange={set(k)} data-testid={`qos-${k}`}>{options.map((o) => <option key={o}>{o}</option>)}</select></Field>
      ))}
      <Field label="depth"><input value={qos.depth ?? ''} onChange={set('depth')} inputMode="numeric" data-testid="qos-depth" /></Field>
      <Field label="deadline_ms"><input value={qos.deadline_ms ?? ''} onChange={set('deadline_ms')} inputMode="decimal" placeholder="none" data-testid="qos-deadline_ms" /></Field>
      <Field label="lifespan_ms"><input value={qos.lifespan_ms ?? ''} onChange={set('lifespan_ms')} inputMode="decimal" placeholder="none" data-testid="qos-lifespan_ms" /></Field>
      <Field label="adapt_to_publishers"><input type="checkbox" checked={!!qos.adapt_to_publishers} onChange={set('adapt_to_publishers')} /></Field>
      <button type="submit" data-testid="qos-set" disabled={!Object.keys(values).length}>Set QoS of {d.name}</button>
    </form>
  );
}

function ModulePanel({ node, add }) {
  const d = node.data;
  return (
    <>
      <p>{d.kind || 'not found'} module, {d.state || 'not running'}; {d.enabled ? 'enabled in the config' : 'not enabled in the config'}.</p>
      <label className="field inline">
        <input type="checkbox" checked={d.enabled} data-testid="module-enabled"
          onChange={(e) => add({ op: 'set_module', name: d.name, enabled: e.target.checked })} />
        <span>enabled (brought up by the kernel, in dependency order)</span>
      </label>
    </>
  );
}

function LlmPanel({ node, choices, add }) {
  const d = node.data;
  const [match, setMatch] = useState((d.match || []).join('\n'));
  const [models, setModels] = useState(d.models || []);
  const known = d.known_models && d.known_models.length ? d.known_models : choices.models;
  return (
    <form onSubmit={(e) => { e.preventDefault(); add({ op: 'set_llm_route', name: d.name, values: { match: match.split('\n').map((s) => s.trim()).filter(Boolean), models } }); }}>
      <p className="muted">output {d.output}; the LLM bridge is {d.bridge || 'not running'}</p>
      <Field label="Topic patterns (one a line)"><textarea rows={3} value={match} onChange={(e) => setMatch(e.target.value)} data-testid="llm-match" /></Field>
      <ModelChain known={known} value={models} onChange={setModels} />
      <div className="buttons">
        <button type="submit" data-testid="llm-set">Set route {d.name}</button>
        <button type="button" onClick={() => add({ op: 'remove_llm_route', name: d.name })}>Delete route</button>
      </div>
    </form>
  );
}

function Panel({ node, graph, choices, add }) {
  if (!node) {
    return (
      <p className="muted">Select a node (click it, or Tab to it and press Enter). Drag a topic onto a tier to route it there; drag from a topic's right edge to an LLM route to attach it.</p>
    );
  }
  const routes = graph.nodes.filter((n) => n.kind === 'llm').map((n) => n.data.name);
  const rules = graph.nodes.filter((n) => n.kind === 'rule').length;
  // a form starts from the node as it is: a new key when what it edits changed (not its rates)
  const d = node.data;
  const edited = { topic: [d.tier, d.rule], rule: [d.pattern, d.tier, d.mirror, d.retention_maxlen, d.retention_max_age_s],
    tier: [d.qos], module: [d.enabled], llm: [d.match, d.models] }[node.kind];
  const props = { node, choices, routes, rules, add, key: `${node.id} ${JSON.stringify(edited)}` };
  const body = { topic: TopicPanel, rule: RulePanel, tier: TierPanel, module: ModulePanel,
    llm: LlmPanel }[node.kind];
  return (
    <>
      <h3>{node.kind} {node.data.name ?? `#${node.data.index}`}</h3>
      {node.data.issues && node.data.issues.length > 0 && (
        <ul className="node-issues">{node.data.issues.map((t) => <li key={t}>{t}</li>)}</ul>
      )}
      {body ? React.createElement(body, props) : <p className="muted">Mirror options are set per topic rule (select a rule).</p>}
    </>
  );
}

// -- the editor -------------------------------------------------------------------------------

function describe(op) {
  switch (op.op) {
    case 'route_topic': return `route ${op.topic} to ${op.tier}`;
    case 'set_rule': return `set rule #${op.index}: ${JSON.stringify(op.values)}`;
    case 'add_rule': return `add a rule ${JSON.stringify(op.values)}`;
    case 'remove_rule': return `delete rule #${op.index}`;
    case 'move_rule': return `move rule #${op.index} to #${op.to}`;
    case 'set_qos': return `set ${op.tier} QoS ${JSON.stringify(op.values)}`;
    case 'set_module': return `${op.enabled ? 'enable' : 'disable'} module ${op.name}`;
    case 'set_llm_route': return `LLM route ${op.name}: ${JSON.stringify(op.values)}`;
    case 'attach_llm': return `attach ${op.pattern} to LLM route ${op.route}`;
    default: return op.op;
  }
}

// A module command's outcome as the dashboard's rows show it: "enable camera: done (...)".
function outcomeText(c) {
  const head = `${c.command} ${c.target}: ${c.status}`;
  if (!c.message) return head;
  return ['scheduled', 'done'].includes(c.status) ? `${head} (${c.message})` : `${head}: ${c.message}`;
}

function Editor() {
  const [live, setLive] = useState(null);
  const [error, setError] = useState('');
  const [ops, setOps] = useState([]);
  const [preview, setPreview] = useState(null);
  const [selected, setSelected] = useState(null);
  const [status, setStatus] = useState({ kind: 'idle', text: '' });
  const [showExcluded, setShowExcluded] = useState(false);
  // since when (ms) the page waits for the kernel to run what it wrote; 0: not waiting
  const [waiting, setWaiting] = useState(0);
  // the module commands of the last apply (a module switched on or off), with their outcomes
  const [commands, setCommands] = useState([]);
  const commandsRef = useRef([]);
  const following = useRef(false);
  const [nodes, setNodes, onNodesChange] = useNodesState([]);
  const dragging = useRef(false);
  const userMoved = useRef(false);
  const flow = useReactFlow();

  const refresh = useCallback(async () => {
    try {
      const asked = Date.now();  // what it says is at least as new as this
      setLive({ ...(await getJson('/api/flow')), asked });
      setError('');
    } catch (err) {
      setError(String(err.message || err));
    }
  }, []);
  useEffect(() => {
    refresh();
    const timer = setInterval(refresh, 1000);
    return () => clearInterval(timer);
  }, [refresh]);

  const check = useCallback(async (next) => {
    setOps(next);
    if (!next.length) {
      setPreview(null);
      setStatus({ kind: 'idle', text: '' });
      return;
    }
    setStatus({ kind: 'checking', text: 'checking…' });
    const res = await postJson('/api/flow/check', { ops: next });
    if (!res.ok) {
      setStatus({ kind: 'refused', text: res.body.error || `refused (${res.status})` });
      setOps(next.slice(0, -1));
      return;
    }
    setPreview(res.body);
    setStatus(res.body.ok ? { kind: 'ok', text: `${next.length} change(s), valid: Apply writes them` }
      : { kind: 'invalid', text: `${res.body.issues.length} problem(s): Apply is refused until they are fixed` });
  }, []);
  const add = useCallback((op) => check([...ops, op]), [ops, check]);

  const setOutcomes = useCallback((change) => {
    commandsRef.current = change(commandsRef.current);
    setCommands(commandsRef.current);
  }, []);
  // one follower asks /api/modules/outcome for the commands still scheduled (a long poll of
  // 2 s when one is, quick rounds when several are), until each is done, refused or failed
  const follow = useCallback(async () => {
    if (following.current) return;
    following.current = true;
    try {
      for (;;) {
        const open = commandsRef.current.filter((c) => c.status === 'scheduled');
        if (!open.length) return;
        for (const c of open) {
          const res = await postJson('/api/modules/outcome', { id: c.id, wait_s: open.length === 1 ? 2 : 0 })
            .catch((err) => ({ ok: false, status: 0, body: { error: String(err.message || err) } }));
          const answer = res.body.status ? res.body
            : res.status === 0 ? null : { status: 'unknown', message: res.body.error || String(res.status) };
          if (answer) setOutcomes((list) => list.map((x) => (x.id === c.id ? { ...x, ...answer } : x)));
        }
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    } finally {
      following.current = false;
    }
  }, [setOutcomes]);

  const apply = async () => {
    const base = {};
    for (const [role, f] of Object.entries(live.files)) if (f.sha) base[role] = f.sha;
    setStatus({ kind: 'applying', text: 'applying…' });
    const res = await postJson('/api/flow/apply', { ops, base });
    if (!res.ok) {
      setStatus({ kind: 'refused', text: `refused: ${res.body.error || res.status}` });
      if (res.body.graph) setPreview(res.body);
      return;
    }
    setOps([]);
    setPreview(null);
    setWaiting(Date.now());
    const said = res.body.restart ? `; ${res.body.restart}` : '';
    setOutcomes(() => res.body.modules || []);
    follow();
    setStatus({ kind: 'applied', text: `applied: wrote ${res.body.written.join(', ') || 'nothing (no change)'}${said}; waiting for the kernel to reload…` });
    refresh();
  };

  const undo = async () => {
    setStatus({ kind: 'applying', text: 'undoing…' });
    const res = await postJson('/api/flow/undo', {});
    if (!res.ok) {
      setStatus({ kind: 'refused', text: `undo refused: ${res.body.error || res.status}` });
      return;
    }
    setOps([]);
    setPreview(null);
    setWaiting(Date.now());
    setStatus({ kind: 'applied', text: `undone: restored ${res.body.restored.join(', ')}; waiting for the kernel to reload…` });
    refresh();
  };

  useEffect(() => {
    // only a graph asked for after the write tells (an older one ran the old file)
    if (waiting && live && live.asked >= waiting && live.files.kernel && live.files.kernel.in_force) {
      setWaiting(0);
      setStatus((s) => ({ kind: 'done', text: s.text.replace('waiting for the kernel to reload…', 'the kernel runs it') }));
    }
  }, [waiting, live]);

  const graph = useMemo(() => (live ? withLive(preview && preview.graph, live.graph) : null),
    [live, preview]);
  const drawn = useMemo(() => (graph ? layout(graph, showExcluded) : { nodes: [], edges: [] }),
    [graph, showExcluded]);
  useEffect(() => {
    if (!dragging.current) {
      setNodes((old) => {
        const sel = new Set(old.filter((n) => n.selected).map((n) => n.id));
        return drawn.nodes.map((n) => ({ ...n, selected: sel.has(n.id) }));
      });
    }
  }, [drawn, setNodes]);

  // the view follows the graph (new topics appear in it) until the user pans or zooms
  const idsKey = drawn.nodes.map((n) => n.id).join('|');
  useEffect(() => {
    if (userMoved.current || !idsKey) return undefined;
    const timer = setTimeout(() => flow.fitView({ padding: 0.05 }), 60);
    return () => clearTimeout(timer);
  }, [idsKey, flow]);

  const onNodeDragStart = () => { dragging.current = true; };
  const onNodeDragStop = (_event, node) => {
    dragging.current = false;
    const hit = flow.getIntersectingNodes(node).find((n) => n.type === 'tier' || n.type === 'llm');
    setNodes(drawn.nodes);
    if (!hit) return;
    if (hit.type === 'tier' && node.type === 'topic') add({ op: 'route_topic', topic: node.data.name, tier: hit.data.name });
    else if (hit.type === 'tier' && node.type === 'rule') add({ op: 'set_rule', index: node.data.index, values: { tier: hit.data.name } });
    else if (hit.type === 'llm') add({ op: 'attach_llm', route: hit.data.name, pattern: node.data.name ?? node.data.pattern });
  };
  const onConnect = ({ source, target }) => {
    const from = graph.nodes.find((n) => n.id === source);
    const to = graph.nodes.find((n) => n.id === target);
    if (!from || !to) return;
    const pattern = from.kind === 'topic' ? from.data.name : from.data.pattern;
    if (to.kind === 'llm') add({ op: 'attach_llm', route: to.data.name, pattern });
    else if (to.kind === 'tier' && from.kind === 'topic') add({ op: 'route_topic', topic: from.data.name, tier: to.data.name });
    else if (to.kind === 'tier' && from.kind === 'rule') add({ op: 'set_rule', index: from.data.index, values: { tier: to.data.name } });
  };
  const isValidConnection = ({ source, target }) => {
    const s = source.split(':')[0];
    const t = target.split(':')[0];
    return (s === 'topic' || s === 'rule') && (t === 'llm' || t === 'tier');
  };

  if (!live) return <p className="muted" role="status">{error || 'loading the graph…'}</p>;
  const files = live.files || {};
  const kernelFile = files.kernel;
  const selectedNode = graph.nodes.find((n) => n.id === selected) || null;
  const editable = kernelFile && kernelFile.editable;
  return (
    <div className="editor">
      <div className="toolbar" role="toolbar" aria-label="Editor actions">
        <button type="button" data-testid="apply" disabled={!ops.length || !preview || !preview.ok} onClick={apply}>Apply</button>
        <button type="button" data-testid="discard" disabled={!ops.length} onClick={() => check([])}>Discard</button>
        <button type="button" data-testid="undo" disabled={!live.undo.length || ops.length > 0} onClick={undo} title={live.undo.join(', ')}>Undo last apply</button>
        <button type="button" data-testid="new-rule" disabled={!editable} onClick={() => add({ op: 'add_rule', index: 0, values: { pattern: '/new/topic', tier: 'NORMAL' } })}>New rule</button>
        <label className="inline"><input type="checkbox" checked={showExcluded} onChange={(e) => setShowExcluded(e.target.checked)} /> show excluded topics</label>
        <span className={`status status-${status.kind}`} role="status" aria-live="polite" data-testid="status">{status.text}</span>
      </div>
      <p className="files muted">
        {kernelFile ? <>config <code>{kernelFile.path}</code> {kernelFile.editable ? (kernelFile.in_force ? '(the kernel runs it)' : '(not yet reloaded)') : `read-only: ${kernelFile.why}`}</> : 'the kernel runs on built-in defaults: nothing to edit'}
        {files.llm && <> · LLM routes in <code>{files.llm.path}</code>{files.llm.editable ? '' : ` (read-only: ${files.llm.why})`}</>}
        {error && <span className="err"> · {error}</span>}
      </p>
      {commands.length > 0 && (
        <ul className="module-outcomes" aria-live="polite" data-testid="module-outcomes">
          {commands.map((c) => (
            <li key={c.id} data-module={c.target} className={`outcome-${c.status}`}>{outcomeText(c)}</li>
          ))}
        </ul>
      )}
      {graph.issues && graph.issues.length > 0 && (
        <ul className="node-issues banner" data-testid="banner-issues">{graph.issues.map((t) => <li key={t}>{t}</li>)}</ul>
      )}
      <div className="editor-body">
        <div className="canvas" data-testid="flow-canvas">
          <ReactFlow
            nodes={nodes} edges={drawn.edges} nodeTypes={NODE_TYPES}
            onNodesChange={onNodesChange}
            onNodeDragStart={onNodeDragStart} onNodeDragStop={onNodeDragStop}
            onConnect={onConnect} isValidConnection={isValidConnection}
            onSelectionChange={({ nodes: sel }) => { if (sel.length) setSelected(sel[0].id); }}
            onNodeClick={(_e, node) => setSelected(node.id)}
            onMoveStart={(event) => { if (event) userMoved.current = true; }}
            fitView minZoom={0.2} nodesFocusable edgesFocusable={false}
            proOptions={{ hideAttribution: true }} deleteKeyCode={null}
          >
            <Background />
            <Controls showInteractive={false} />
          </ReactFlow>
        </div>
        <aside className="panel" aria-label="Selected node" data-testid="panel">
          <Panel node={selectedNode} graph={graph} choices={live.choices} add={add} />
          {ops.length > 0 && (
            <section className="pending" data-testid="pending">
              <h4>Pending changes</h4>
              <ol>{ops.map((op, i) => <li key={i}>{describe(op)}</li>)}</ol>
              {preview && preview.diff && Object.entries(preview.diff).map(([role, text]) => (
                <details key={role}><summary>{role} file: what changes</summary><pre>{text}</pre></details>
              ))}
            </section>
          )}
        </aside>
      </div>
    </div>
  );
}

const root = document.getElementById('flow-root');
if (root) {
  createRoot(root).render(<ReactFlowProvider><Editor /></ReactFlowProvider>);
}
