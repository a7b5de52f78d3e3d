// Building the page. Everything that reaches the page goes through h() as
// text nodes or attribute values: no HTML string is ever parsed, so a host
// named `<img src=x onerror=alert(1)>` shows as exactly that text.

export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function number(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return Number(value).toLocaleString('en', { maximumFractionDigits: digits });
}

export function percent(value) {
  return value === null || value === undefined ? '–' : `${number(value)} %`;
}

export function ago(ms) {
  if (!ms) return 'never';
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export function when(ms) {
  return ms ? new Date(ms).toLocaleString() : '–';
}

export function badge(text, kind) {
  return h('span', { class: `badge ${kind || text}` }, text);
}

export function card(title, value, detail) {
  return h('section', { class: 'card' }, h('h3', {}, title), h('p', { class: 'value' }, value),
    detail ? h('p', { class: 'detail' }, detail) : null);
}

export function table(columns, rows, empty) {
  const head = h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)));
  const body = rows.length
    ? rows
    : [h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, empty || 'Nothing here.'))];
  return h('table', {}, h('thead', {}, head), h('tbody', {}, body));
}

// Call `fn` at once, then at most once per `ms` while calls keep coming
// (the last of them is not lost: it runs when the wait is over).
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return () => {
    if (timer) return;
    const wait = last + ms - Date.now();
    if (wait <= 0) {
      last = Date.now();
      fn();
      return;
    }
    timer = setTimeout(() => { timer = null; last = Date.now(); fn(); }, wait);
  };
}
