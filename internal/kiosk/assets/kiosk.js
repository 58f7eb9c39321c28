// The customer's screen. Everything comes from the machine over server-sent
// events (/events): a snapshot on (re)connect, then each change. Money is
// integer grosze throughout; it is only formatted here.
'use strict';

const T = {
  pl: {
    brand: 'Zwrot opakowań',
    insert: 'Włóż opakowanie do otworu',
    insertHint: 'Butelki plastikowe, puszki i butelki szklane zwrotne ze znakiem systemu kaucyjnego: puste i niezgniecione.',
    yourContainers: 'Twoje opakowania',
    total: 'Razem',
    voucher: 'Wydrukuj bon',
    donate: 'Przekaż na cele dobroczynne',
    digital: 'Bon na telefon',
    account: 'Na moje konto kaucyjne',
    phoneLabel: 'Numer telefonu (9 cyfr)',
    back: 'Wróć',
    send: 'Wyślij',
    thanks: 'Dziękujemy!',
    serviceTitle: 'Tryb serwisowy',
    wait: 'Chwileczkę…',
    failed: 'Nie udało się. Spróbuj ponownie.',
    phoneShort: 'Wpisz wszystkie 9 cyfr numeru telefonu.',
    container: 'Opakowanie',
    takeBack: 'zabierz je',
    states: {ready: 'Gotowy', busy: 'Pracuję…', 'bag full': 'Worek pełny', 'out of order': 'Nieczynny', service: 'Serwis'},
    reasons: {
      'pulled-back': 'wyjęte z powrotem',
      1: 'nie rozpoznano opakowania',
      2: 'zgniecione',
      3: 'nieczytelny kod kreskowy',
      4: 'brak kodu kreskowego',
      5: 'błędny kod kreskowy',
      'not-empty': 'nie jest puste',
      6: 'poza systemem kaucyjnym',
    },
    downTitle: 'Automat nieczynny',
    downDetail: 'Przepraszamy. Twoje pieniądze są bezpieczne; obsługa została powiadomiona.',
    offline: 'Brak połączenia z automatem. Łączę ponownie…',
    fullTitle: 'Worek jest pełny',
    fullDetail: 'Obsługa wymieni go za chwilę. Przepraszamy za kłopot.',
    paidVoucher: (m) => `Weź wydrukowany bon na ${m}.`,
    paidDonation: (m) => `Przekazałeś ${m} na cele dobroczynne.`,
    paidDigital: (m, p) => `Bon na ${m} wysłaliśmy SMS-em na numer ${p}.`,
    paidAccount: (m, p) => `${m} trafi na konto kaucyjne numeru ${p}.`,
    paidNothing: 'Żadne opakowanie nie zostało przyjęte.',
    blocked: 'Zwrot zablokowany: zbyt wiele nierozpoznanych opakowań. Zgłoś się do obsługi sklepu.',
    voucherCode: 'Kod bonu',
    svc: {fault: 'Usterka', blocked: 'Blokady', bag: 'Worek', bagCount: 'Opakowań w worku', bagFill: 'Zapełnienie', catalog: 'Wersja katalogu', rvmId: 'rvmId', none: 'brak'},
  },
  en: {
    brand: 'Container return',
    insert: 'Put a container into the opening',
    insertHint: 'Plastic bottles, cans and refillable glass bottles with the deposit mark: empty and not crushed.',
    yourContainers: 'Your containers',
    total: 'Total',
    voucher: 'Print a voucher',
    donate: 'Donate to charity',
    digital: 'Voucher to my phone',
    account: 'To my deposit account',
    phoneLabel: 'Phone number (9 digits)',
    back: 'Back',
    send: 'Send',
    thanks: 'Thank you!',
    serviceTitle: 'Service mode',
    wait: 'One moment…',
    failed: 'That did not work. Please try again.',
    phoneShort: 'Enter all 9 digits of the phone number.',
    container: 'Container',
    takeBack: 'please take it back',
    states: {ready: 'Ready', busy: 'Busy…', 'bag full': 'Bag full', 'out of order': 'Out of order', service: 'Service'},
    reasons: {
      'pulled-back': 'taken back',
      1: 'container not recognised',
      2: 'crushed',
      3: 'barcode unreadable',
      4: 'no barcode',
      5: 'barcode not valid',
      'not-empty': 'not empty',
      6: 'not in the deposit system',
    },
    downTitle: 'Out of order',
    downDetail: 'Sorry. Your money is safe; the staff have been told.',
    offline: 'No connection to the machine. Reconnecting…',
    fullTitle: 'The bag is full',
    fullDetail: 'The staff will change it shortly. Sorry for the wait.',
    paidVoucher: (m) => `Take your printed voucher for ${m}.`,
    paidDonation: (m) => `You donated ${m} to charity.`,
    paidDigital: (m, p) => `Your voucher for ${m} was sent by text message to ${p}.`,
    paidAccount: (m, p) => `${m} goes to the deposit account of ${p}.`,
    paidNothing: 'No container was accepted.',
    blocked: 'This return was blocked: too many containers not recognised. Please ask the staff.',
    voucherCode: 'Voucher code',
    svc: {fault: 'Fault', blocked: 'Blocked', bag: 'Bag', bagCount: 'Containers in the bag', bagFill: 'Fill level', catalog: 'Catalogue version', rvmId: 'rvmId', none: 'none'},
  },
};

const params = new URLSearchParams(location.search);
const defaultLang = params.get('lang') === 'en' ? 'en' : 'pl';

const ui = {
  lang: defaultLang,
  connected: false,
  snap: {state: 'out of order', session: false, containers: [], total: 0, count: 0},
  phoneOpen: false,
  phoneFor: 'digital', // the payout the phone number is for: digital or account
  phone: '',
  phoneMsg: '',
  payMsg: '',
  paying: false,
  ended: null,      // the session that just ended, for the thank-you screen
  endedTimer: 0,
};

const $ = (id) => document.getElementById(id);

// money formats integer grosze: "1,50 zł" in Polish, "PLN 1.50" in English.
function money(g, lang) {
  const neg = g < 0;
  const s = String(Math.abs(Math.trunc(g))).padStart(3, '0');
  const zl = s.slice(0, -2), gr = s.slice(-2);
  const v = lang === 'pl' ? `${zl},${gr} zł` : `PLN ${zl}.${gr}`;
  return neg ? '-' + v : v;
}

function reason(c, t) {
  return t.reasons[c.why] || t.reasons[c.cause] || t.reasons[6];
}

function render() {
  const t = T[ui.lang];
  const s = ui.snap;
  document.documentElement.lang = ui.lang;
  document.title = t.brand;
  for (const el of document.querySelectorAll('[data-t]')) {
    const v = t[el.dataset.t];
    if (typeof v === 'string') el.textContent = v;
  }
  for (const b of document.querySelectorAll('[data-lang]')) {
    b.setAttribute('aria-pressed', String(b.dataset.lang === ui.lang));
  }

  const state = ui.connected ? s.state : 'out of order';
  const st = $('state');
  st.dataset.state = state;
  st.textContent = t.states[state] || state;

  // Containers, newest first.
  const ol = $('containers');
  ol.textContent = '';
  for (let i = s.containers.length - 1; i >= 0; i--) {
    const c = s.containers[i];
    const li = document.createElement('li');
    li.setAttribute('data-testid', 'container');
    li.dataset.status = c.status;
    li.dataset.reason = String(c.cause);
    li.dataset.id = String(c.id);
    const mark = document.createElement('span');
    mark.className = 'mark';
    mark.setAttribute('aria-hidden', 'true');
    mark.textContent = c.status === 'accepted' ? '✓' : '✕';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = c.name || (c.ean ? `${t.container} ${c.ean}` : t.container);
    const what = document.createElement('span');
    what.className = 'what';
    if (c.status === 'accepted') {
      what.textContent = '+' + money(c.deposit, ui.lang);
    } else {
      what.textContent = reason(c, t);
      const hint = document.createElement('small');
      hint.textContent = c.why === 'pulled-back' ? '' : t.takeBack;
      if (hint.textContent) what.append(document.createElement('br'), hint);
    }
    li.append(mark, name, what);
    ol.append(li);
  }
  $('total').textContent = money(s.total, ui.lang);
  $('pay-msg').textContent = ui.payMsg;
  for (const b of document.querySelectorAll('.payout')) b.disabled = ui.paying;

  $('phone-input').value = ui.phone;
  $('phone-msg').textContent = ui.phoneMsg;
  $('phone-send').setAttribute('aria-disabled', String(ui.phone.length !== 9 || ui.paying));

  // Thank-you screen.
  if (ui.ended) {
    const e = ui.ended, m = money(e.total, ui.lang);
    let d = t.paidNothing;
    if (e.blocked) {
      d = t.blocked;
    } else if (e.total > 0 || e.voucher) {
      d = e.payout === 'donation' ? t.paidDonation(m) : e.payout === 'digital' ? t.paidDigital(m, e.phone || '')
        : e.payout === 'account' ? t.paidAccount(m, e.phone || '') : t.paidVoucher(m);
    }
    $('thanks-detail').textContent = d;
    $('thanks-icon').classList.toggle('blocked', !!e.blocked);
    $('thanks-icon').textContent = e.blocked ? '!' : '✓';
    $('thanks-code').textContent = e.voucher && e.payout === 'voucher' ? `${t.voucherCode}: ${e.voucher}` : '';
  }

  // Out of order, bag full.
  $('down-icon').classList.toggle('full', ui.connected && state === 'bag full');
  if (!ui.connected) {
    $('down-title').textContent = t.downTitle;
    $('down-detail').textContent = t.offline;
  } else if (state === 'bag full') {
    $('down-title').textContent = t.fullTitle;
    $('down-detail').textContent = t.fullDetail;
  } else {
    $('down-title').textContent = t.downTitle;
    $('down-detail').textContent = t.downDetail;
  }

  // Service screen.
  const dl = $('service-list');
  dl.textContent = '';
  const sv = s.service || {};
  const rows = [
    [t.svc.fault, sv.fault || t.svc.none],
    [t.svc.blocked, (sv.blocked || []).join(', ') || t.svc.none],
    [t.svc.bag, sv.bagId || '—'],
    [t.svc.bagCount, String(sv.bagCount ?? '—')],
    [t.svc.bagFill, sv.bagFillPct !== undefined ? sv.bagFillPct + ' %' : '—'],
    [t.svc.catalog, String(sv.catalogVersion ?? '—')],
    [t.svc.rvmId, sv.rvmId || '—'],
  ];
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }

  let screen = 'welcome';
  if (!ui.connected || state === 'out of order') screen = 'down';
  else if (state === 'service') screen = 'service';
  else if (ui.ended && !s.session) screen = 'thanks';
  else if (s.session && ui.phoneOpen) screen = 'phone';
  else if (s.session) screen = 'session';
  else if (state === 'bag full') screen = 'down';
  document.body.dataset.screen = screen;
  for (const sec of document.querySelectorAll('.screen')) sec.classList.toggle('on', sec.id === screen);
}

// --- The event stream. EventSource reconnects by itself only sometimes
// (not after a refused connection), so we do it ourselves, every second.
let es = null, retry = 0;
function connect() {
  clearTimeout(retry);
  es = new EventSource('events');
  es.addEventListener('snapshot', (e) => {
    ui.connected = true;
    ui.snap = JSON.parse(e.data);
    if (!ui.snap.session) ui.phoneOpen = false;
    render();
  });
  es.addEventListener('container', (e) => {
    const c = JSON.parse(e.data);
    const cs = ui.snap.containers;
    const i = cs.findIndex((x) => x.id === c.id);
    if (i >= 0) cs[i] = c; else cs.push(c);
    ui.snap.session = true;
    endThanks();
    render();
  });
  es.addEventListener('total', (e) => {
    const v = JSON.parse(e.data);
    ui.snap.total = v.total;
    ui.snap.count = v.count;
    ui.snap.session = true;
    render();
  });
  es.addEventListener('ended', (e) => {
    ui.ended = JSON.parse(e.data);
    ui.snap.session = false;
    ui.snap.containers = [];
    ui.snap.total = 0;
    ui.snap.count = 0;
    ui.phoneOpen = false;
    ui.phone = '';
    ui.phoneMsg = '';
    ui.payMsg = '';
    ui.paying = false;
    clearTimeout(ui.endedTimer);
    ui.endedTimer = setTimeout(endThanks, 8000);
    render();
  });
  es.addEventListener('state', (e) => {
    const v = JSON.parse(e.data);
    ui.snap.state = v.state;
    ui.snap.fault = v.fault;
    ui.snap.service = v.service;
    render();
  });
  es.onerror = () => {
    es.close();
    ui.connected = false;
    ui.paying = false;
    render();
    retry = setTimeout(connect, 1000);
  };
}

// endThanks leaves the thank-you screen; the next customer starts in the
// default language.
function endThanks() {
  if (!ui.ended) return;
  clearTimeout(ui.endedTimer);
  ui.ended = null;
  ui.lang = defaultLang;
  render();
}

// --- Payout buttons. A press ends the session on the machine; while a
// container is still on its way the machine answers 409 and we try again.
async function pay(payout, phone) {
  if (ui.paying) return;
  ui.paying = true;
  ui.payMsg = T[ui.lang].wait;
  render();
  for (let i = 0; i < 40; i++) {
    let r;
    try {
      r = await fetch('api/finish', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({payout, phone})});
    } catch (err) {
      break;
    }
    if (r.ok) {
      return; // the "ended" event follows
    }
    if (r.status !== 409) break;
    if (!ui.snap.session) { // it ended meanwhile (idle timeout, bag full)
      ui.paying = false;
      ui.payMsg = '';
      render();
      return;
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  ui.paying = false;
  ui.payMsg = T[ui.lang].failed;
  render();
}

// touch tells the machine the customer is at the screen, so the session's
// idle timeout does not end it while they choose or type (at most every 2 s).
let lastTouch = 0;
function touch() {
  const now = Date.now();
  if (!ui.snap.session || now - lastTouch < 2000) return;
  lastTouch = now;
  fetch('api/touch', {method: 'POST'}).catch(() => {});
}

function pressKey(k) {
  touch();
  if (k === 'back') ui.phone = ui.phone.slice(0, -1);
  else if (/^[0-9]$/.test(k) && ui.phone.length < 9) ui.phone += k;
  ui.phoneMsg = '';
  render();
}

function sendPhone() {
  if (!/^[0-9]{9}$/.test(ui.phone)) {
    ui.phoneMsg = T[ui.lang].phoneShort;
    render();
    return;
  }
  pay(ui.phoneFor, ui.phone);
}

document.addEventListener('DOMContentLoaded', () => {
  for (const b of document.querySelectorAll('[data-lang]')) {
    b.addEventListener('click', () => { ui.lang = b.dataset.lang; touch(); render(); });
  }
  for (const b of document.querySelectorAll('[data-payout]')) {
    b.addEventListener('click', () => pay(b.dataset.payout, ''));
  }
  for (const [id, payout] of [['btn-digital', 'digital'], ['btn-account', 'account']]) {
    $(id).addEventListener('click', () => {
      touch();
      ui.phoneFor = payout; ui.phoneOpen = true; ui.phone = ''; ui.phoneMsg = ''; ui.payMsg = ''; render();
    });
  }
  $('phone-cancel').addEventListener('click', () => { touch(); ui.phoneOpen = false; ui.paying = false; ui.payMsg = ''; render(); });
  for (const b of document.querySelectorAll('[data-key]')) {
    b.addEventListener('click', () => pressKey(b.dataset.key));
  }
  $('phone-send').addEventListener('click', sendPhone);
  render();
  connect();
});
