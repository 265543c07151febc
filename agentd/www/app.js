/*
 * postroom - the agent's page.  It uses only the API of docs/api.md; the
 * session is the HttpOnly cookie agentd sets at login.
 *
 * Everything that came in a customer's mail is written with textContent,
 * never as HTML.
 */
'use strict';

const $ = (id) => document.getElementById(id);

const page = {
	agent: null,		/* the agent object of /api/login and /api/me */
	state: null,		/* "ready" or "paused" */
	conversation: null,	/* the conversation object on screen */
	events: null,		/* the EventSource */
	loading: 0,		/* counts loads, so a late answer does not win */
};

class ApiError extends Error {
	constructor(status, code, message) {
		super(message);
		this.status = status;
		this.code = code;
	}
}

async function api(method, path, body) {
	const opts = { method, credentials: 'same-origin', headers: {} };
	if (body !== undefined) {
		opts.headers['Content-Type'] = 'application/json';
		opts.body = JSON.stringify(body);
	}
	let r;
	try {
		r = await fetch(path, opts);
	} catch (e) {
		throw new ApiError(0, 'network', 'agentd cannot be reached: ' + e.message);
	}
	let data = null;
	try {
		data = await r.json();
	} catch (e) {
		data = null;
	}
	if (!r.ok) {
		const msg = data && data.message ? data.message : r.status + ' ' + r.statusText;
		throw new ApiError(r.status, data && data.error, msg);
	}
	return data;
}

function showError(text) {
	const el = $('error');
	el.textContent = text || '';
	el.hidden = !text;
}

/* failed - what every caller does with an error: back to the login form on 401 */
function failed(e) {
	if (e instanceof ApiError && e.status === 401) {
		showLogin(e.code === 'login_failed' ? e.message : 'Your session has ended. Please log in again.');
		return;
	}
	showError(e.message);
}

function clear(el) {
	while (el.firstChild)
		el.removeChild(el.firstChild);
}

function el(tag, cls, text) {
	const e = document.createElement(tag);
	if (cls)
		e.className = cls;
	if (text !== undefined && text !== null)
		e.textContent = String(text);
	return e;
}

/* --- login --- */

function showLogin(message) {
	closeEvents();
	page.agent = null;
	page.conversation = null;
	$('bar').hidden = true;
	$('work').hidden = true;
	$('login').hidden = false;
	showError(message);
	$('login-password').value = '';
	$('login-agent').focus();
}

async function login(ev) {
	ev.preventDefault();
	showError('');
	try {
		const r = await api('POST', '/api/login', {
			agent: $('login-agent').value.trim(),
			password: $('login-password').value,
		});
		enter(r.agent, r.state, null);
	} catch (e) {
		failed(e);
	}
}

async function logout() {
	try {
		await api('POST', '/api/logout');
		showLogin('');
	} catch (e) {
		failed(e);
		if (!(e instanceof ApiError) || e.status !== 401)
			showLogin(e.message);
	}
}

/* --- the working screen --- */

function enter(agent, state, conversation) {
	page.agent = agent;
	$('login').hidden = true;
	$('bar').hidden = false;
	$('work').hidden = false;
	$('who').textContent = agent.name + ' (' + agent.id + ')';
	setState(state);
	showConversation(null);
	openEvents();
	if (conversation)
		load(conversation);
}

function setState(state) {
	page.state = state;
	const s = $('state');
	s.textContent = state === 'ready' ? 'Ready' : 'Paused';
	s.className = 'state ' + (state === 'ready' ? 'ready' : 'paused');
	$('toggle').textContent = state === 'ready' ? 'Pause' : 'Ready';
	showWaiting();
}

function showWaiting() {
	const w = $('waiting');
	w.hidden = page.conversation !== null;
	w.textContent = page.state === 'ready'
		? 'Waiting for the next message\u2026'
		: 'Paused. Press Ready to receive work.';
}

async function toggle() {
	const next = page.state === 'ready' ? 'paused' : 'ready';
	$('toggle').disabled = true;
	try {
		const r = await api('POST', '/api/state', { state: next });
		showError('');
		setState(r.state);
	} catch (e) {
		failed(e);
	} finally {
		$('toggle').disabled = false;
	}
}

/* --- the event stream --- */

function closeEvents() {
	if (page.events) {
		page.events.close();
		page.events = null;
	}
}

function openEvents() {
	closeEvents();
	const es = new EventSource('/api/events');
	page.events = es;
	es.addEventListener('assigned', (ev) => {
		const d = JSON.parse(ev.data);
		load(d.conversation);
	});
	es.addEventListener('message', (ev) => {
		const d = JSON.parse(ev.data);
		if (page.conversation && page.conversation.id === d.conversation)
			load(d.conversation);
	});
	es.addEventListener('released', (ev) => {
		const d = JSON.parse(ev.data);
		if (page.conversation && page.conversation.id === d.conversation) {
			showConversation(null);
			showError('The conversation was taken back.');
		}
	});
	es.onerror = async () => {
		/* EventSource reconnects by itself; find out whether the session is still there */
		if (es.readyState === EventSource.CLOSED || es.readyState === EventSource.CONNECTING) {
			try {
				const me = await api('GET', '/api/me');
				setState(me.state);
				if (es.readyState === EventSource.CLOSED && page.events === es)
					openEvents();
			} catch (e) {
				if (e instanceof ApiError && e.status === 401)
					failed(e);
			}
		}
	};
}

/* --- the conversation --- */

async function load(id) {
	const n = ++page.loading;
	try {
		const conv = await api('GET', '/api/conversations/' + encodeURIComponent(id));
		if (n === page.loading)
			showConversation(conv);
	} catch (e) {
		failed(e);
	}
}

function person(name, addr) {
	if (name && addr)
		return name + ' <' + addr + '>';
	return name || addr || '';
}

function showConversation(conv) {
	const same = conv && page.conversation && page.conversation.id === conv.id;
	page.conversation = conv;
	$('conversation').hidden = !conv;
	showWaiting();
	if (!conv) {
		$('reply-body').value = '';
		$('sent').hidden = true;
		return;
	}
	if (!same) {
		$('reply-body').value = '';
		$('sent').hidden = true;
		showError('');
	}
	$('subject').textContent = conv.subject || '(no subject)';
	const c = conv.contact || {};
	$('contact').textContent = person(c.name, c.addr);

	const list = $('messages');
	clear(list);
	for (const m of conv.messages || []) {
		const li = el('li', m.direction === 'out' ? 'out' : 'in');
		const meta = el('div', 'meta');
		meta.appendChild(el('span', 'from', person(m.from_name, m.from_addr)));
		meta.appendChild(el('span', 'date', m.date || m.date_iso_utc || ''));
		if (m.subject && m.subject !== conv.subject)
			meta.appendChild(el('span', 'msubject', m.subject));
		li.appendChild(meta);
		li.appendChild(el('pre', 'body', m.text_body || ''));
		if (m.attachments && m.attachments.length) {
			const names = m.attachments.map((a) => a.filename || a.content_type || 'attachment');
			li.appendChild(el('div', 'attachments', 'Attachments: ' + names.join(', ')));
		}
		list.appendChild(li);
	}

	const box = $('dispositions');
	clear(box);
	const group = (page.agent.groups || []).find((g) => g.id === conv.group);
	for (const d of group ? group.dispositions : []) {
		const b = el('button', null, d);
		b.type = 'button';
		b.addEventListener('click', () => dispose(conv.id, d));
		box.appendChild(b);
	}
}

async function reply(ev) {
	ev.preventDefault();
	const conv = page.conversation;
	const body = $('reply-body').value;
	if (!conv || !body.trim())
		return;
	const send = $('send');
	send.disabled = true;
	send.textContent = 'Sending\u2026';
	try {
		await api('POST', '/api/conversations/' + conv.id + '/reply', { body });
		showError('');
		$('reply-body').value = '';
		$('sent').textContent = 'Sent.';
		$('sent').hidden = false;
		await load(conv.id);
	} catch (e) {
		failed(e);
	} finally {
		send.disabled = false;
		send.textContent = 'Send';
	}
}

async function dispose(id, disposition) {
	for (const b of $('dispositions').querySelectorAll('button'))
		b.disabled = true;
	try {
		await api('POST', '/api/conversations/' + id + '/disposition', { disposition });
		showError('');
		showConversation(null);
	} catch (e) {
		failed(e);
		for (const b of $('dispositions').querySelectorAll('button'))
			b.disabled = false;
	}
}

/* --- start --- */

async function start() {
	$('login').addEventListener('submit', login);
	$('logout').addEventListener('click', logout);
	$('toggle').addEventListener('click', toggle);
	$('reply').addEventListener('submit', reply);
	try {
		const me = await api('GET', '/api/me');
		enter(me.agent, me.state, me.conversation);
	} catch (e) {
		if (e instanceof ApiError && e.status === 401)
			showLogin('');
		else
			showLogin(e.message);
	}
}

start();
