// SPDX-License-Identifier: LGPL-2.1-or-later
// The xfsm dashboard: the node's components and machines as diagrams with
// each instance's current state highlighted, live over /api/events; an
// instance's context and history; create and send from the page. It talks
// only to the server that served it, through the REST API (xfsm-http(8)).
'use strict';

const model = {
  components: [],          // [{name, definition}]
  instances: new Map(),    // id -> {id, machineName, currentState, componentName, ...}
  selected: null,          // instance id
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const type = r.headers.get('Content-Type') || '';
  const data = type.startsWith('application/json') ? await r.json() : await r.text();
  if (!r.ok && !(data && data.success)) {
    const err = new Error((data && data.error) || r.statusText);
    err.status = r.status;
    err.body = data;
    throw err;
  }
  return data;
}

function showError(e) {
  $('error').textContent = e ? String(e.message || e) : '';
}

// ---- sign in ---------------------------------------------------------------

// A session that only reads (anonymously on loopback, or a read token)
// keeps the form to sign in with a token that writes.
async function signIn(token) {
  const r = await api('POST', '/api/session', token ? { token } : undefined);
  const writes = r.scopes.some((s) => s.startsWith('write:'));
  $('who').textContent = r.scopes.join(' ');
  $('login-why').textContent = 'Read only: sign in with a token to create instances and send events.';
  $('login-error').textContent = '';
  $('login').hidden = writes;
  return r;
}

async function start() {
  try {
    await signIn();
  } catch (e) {
    if (e.status === 401) {
      $('login').hidden = false;
      return;
    }
    showError(e);
    return;
  }
  await load();
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    await signIn($('login-token').value);
    $('login-token').value = '';
    if ($('main').hidden || !stream) await load();
  } catch (e) {
    $('login-error').textContent = e.message;
  }
});

// ---- components, machines, diagrams ------------------------------------------

async function load() {
  $('main').hidden = false;
  const list = await api('GET', '/api/components');
  model.components = [];
  for (const c of list.components) {
    if (!c.running && c.running !== undefined) continue;
    try {
      const d = await api('GET', '/api/components/' + encodeURIComponent(c.name));
      model.components.push({ name: c.name, definition: d.component });
    } catch (e) {
      // a component on another node whose home has not told its definition yet (xfsm-http(8))
      if (!c.node) showError(e);
    }
  }
  const inst = await api('GET', '/api/instances');
  model.instances.clear();
  for (const i of inst.instances) model.instances.set(i.id, i);
  await renderComponents();
  renderCreateForm();
  highlight();
  openStream();
}

function machinesOf(c) {
  return (c.definition.stateMachines || []).map((m) => m.name);
}

async function renderComponents() {
  const box = $('components');
  box.replaceChildren();
  for (const c of model.components) {
    const card = el('div', { class: 'component', 'data-component': c.name }, el('h2', {}, c.name));
    for (const m of machinesOf(c)) {
      const diagram = el('div', { class: 'diagram', 'data-machine': m });
      const table = el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'instance'), el('th', {}, 'state'))),
                       el('tbody', { 'data-instances': c.name + '/' + m }));
      card.append(el('div', { class: 'machine' }, el('h3', {}, m), diagram, table));
      try {
        const svg = await api('GET', '/api/components/' + encodeURIComponent(c.name) + '/machines/' +
                              encodeURIComponent(m) + '/diagram.svg');
        const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
        diagram.replaceChildren(document.importNode(doc.documentElement, true));
      } catch (e) {
        diagram.textContent = 'no diagram: ' + e.message;
      }
    }
    box.append(card);
  }
  renderInstances();
}

function renderInstances() {
  for (const tbody of document.querySelectorAll('tbody[data-instances]')) {
    const [c, m] = tbody.getAttribute('data-instances').split('/');
    const rows = [];
    for (const i of model.instances.values()) {
      if (i.componentName !== c || i.machineName !== m) continue;
      const tr = el('tr', { class: 'instance' + (i.id === model.selected ? ' selected' : ''), 'data-id': i.id },
                    el('td', {}, i.id), el('td', { class: 'state' }, i.currentState));
      tr.addEventListener('click', () => select(i.id));
      rows.push(tr);
    }
    tbody.replaceChildren(...rows);
  }
}

function highlight() {
  for (const card of document.querySelectorAll('.component')) {
    const c = card.getAttribute('data-component');
    for (const d of card.querySelectorAll('.diagram')) {
      const m = d.getAttribute('data-machine');
      const current = new Set();
      let selectedState = null;
      for (const i of model.instances.values())
        if (i.componentName === c && i.machineName === m) {
          current.add(i.currentState);
          if (i.id === model.selected) selectedState = i.currentState;
        }
      for (const g of d.querySelectorAll('g.node')) {
        const id = g.getAttribute('id') || '';
        const state = id.startsWith('state-') ? id.slice(6) : null;
        g.classList.toggle('current', current.has(state));
        g.classList.toggle('selected', state !== null && state === selectedState);
      }
    }
  }
}

// ---- one instance ------------------------------------------------------------

async function select(id) {
  model.selected = id;
  renderInstances();
  highlight();
  await showInstance();
}

async function showInstance() {
  const id = model.selected;
  if (!id) return;
  try {
    const { instance } = await api('GET', '/api/instances/' + encodeURIComponent(id));
    model.instances.set(id, { ...model.instances.get(id), ...instance });
    $('instance').replaceChildren(
      el('p', {}, el('strong', {}, instance.componentName + ' / ' + instance.machineName)),
      el('p', {}, 'id ', el('code', { 'data-field': 'id' }, instance.id)),
      el('p', {}, 'state ', el('strong', { 'data-field': 'state', id: 'instance-state' }, instance.currentState),
         ' (' + instance.status + ')'));
    $('instance-context').textContent = JSON.stringify(instance.context, null, 2);
    const { history } = await api('GET', '/api/instances/' + encodeURIComponent(id) + '/history');
    $('instance-history').replaceChildren(...history.map((h) =>
      el('li', {}, new Date(h.persistedAt).toLocaleTimeString() + ' ' + h.stateBefore + ' → ' + h.stateAfter +
         ' on ' + h.event.type)));
    $('send-form').hidden = false;
    const c = model.components.find((x) => x.name === instance.componentName);
    const m = c && c.definition.stateMachines.find((x) => x.name === instance.machineName);
    const events = new Set((m ? m.transitions : []).filter((t) => t.from === instance.currentState)
                             .map((t) => t.event));
    $('send-events').replaceChildren(...[...events].map((e) => el('option', { value: e })));
  } catch (e) {
    showError(e);
  }
}

$('send-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    const payload = JSON.parse($('send-payload').value || '{}');
    const r = await api('POST', '/api/instances/' + encodeURIComponent(model.selected) + '/events',
                        { type: $('send-event').value, payload });
    $('send-result').textContent = r.accepted ? 'now in ' + r.state : 'not taken: ' + r.error;
  } catch (e) {
    $('send-result').textContent = e.message;
  }
});

// ---- create ------------------------------------------------------------------

function renderCreateForm() {
  const cs = $('create-component');
  cs.replaceChildren(...model.components.map((c) => el('option', { value: c.name }, c.name)));
  const fill = () => {
    const c = model.components.find((x) => x.name === cs.value);
    $('create-machine').replaceChildren(...(c ? machinesOf(c) : []).map((m) => el('option', { value: m }, m)));
  };
  cs.onchange = fill;
  fill();
}

$('create-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    const context = JSON.parse($('create-context').value || '{}');
    const c = $('create-component').value;
    const r = await api('POST', '/api/components/' + encodeURIComponent(c) + '/instances',
                        { machineName: $('create-machine').value, context });
    $('create-result').textContent = 'created ' + r.instanceId;
    $('create-result').setAttribute('data-created', r.instanceId);
  } catch (e) {
    $('create-result').textContent = e.message;
  }
});

// ---- live --------------------------------------------------------------------

// A new session (anonymous where it may be; else the form), then everything
// asked again and the stream reopened.
async function signInAgain() {
  try {
    await signIn();
  } catch (e) {
    if (e.status === 401) {
      $('login').hidden = false;
      return;
    }
    setTimeout(signInAgain, 3000);
    return;
  }
  try {
    await load();
  } catch (e) {
    showError(e);
  }
}

let stream = null;

function openStream() {
  if (stream) return;
  stream = new EventSource('/api/events');
  stream.onopen = () => {
    $('stream').textContent = 'live';
    $('stream').className = 'stream open';
    document.body.setAttribute('data-stream', 'open');
  };
  stream.onerror = () => {
    $('stream').textContent = 'reconnecting';
    $('stream').className = 'stream closed';
    document.body.setAttribute('data-stream', 'closed');
    // EventSource retries by itself while the server is away, and gives up
    // when it answers 401: a server restarted has forgotten the session
    if (stream.readyState === EventSource.CLOSED) {
      stream = null;
      setTimeout(signInAgain, 1000);
    }
  };
  stream.onmessage = (msg) => {
    let ev;
    try {
      ev = JSON.parse(msg.data);
    } catch (e) {
      return;
    }
    const known = model.instances.get(ev.instanceId);
    if (ev.type === 'transition') {
      const i = known || { id: ev.instanceId, componentName: ev.componentName, machineName: ev.machineName };
      i.currentState = ev.to;
      model.instances.set(ev.instanceId, i);
    } else if (ev.type === 'instance_created' && !known) {
      // its state is asked once; transitions keep it current afterwards
      model.instances.set(ev.instanceId, { id: ev.instanceId, componentName: ev.componentName,
                                           machineName: ev.machineName, currentState: '' });
      api('GET', '/api/instances/' + encodeURIComponent(ev.instanceId)).then(({ instance }) => {
        const i = model.instances.get(ev.instanceId);
        if (i && !i.currentState) i.currentState = instance.currentState;
        renderInstances();
        highlight();
      }).catch(() => {});
    } else if (ev.type === 'instance_removed') {
      model.instances.delete(ev.instanceId);
    }
    renderInstances();
    highlight();
    if (ev.instanceId === model.selected) showInstance();
  };
}

start();
