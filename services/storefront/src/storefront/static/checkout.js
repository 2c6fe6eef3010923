// DropWave checkout (docs/adr/0011-storefront.md, "Checkout"): the card becomes a Stripe
// PaymentMethod in the browser (card data never reaches us); the order is placed with ONE
// Idempotency-Key per attempt (kept in sessionStorage across double clicks, retries and
// reloads, replaced only after a definitive failure); payments authorizes it, the page polls
// the order with its token and finishes 3-D Secure with the order's client_secret.
(() => {
  'use strict';
  const section = document.getElementById('checkout');
  const form = document.getElementById('checkout-form');
  if (!section || !form) return;
  const slug = section.dataset.slug;
  const button = form.querySelector('button[type="submit"]');
  const statusLine = document.getElementById('checkout-status');
  const alertLine = document.getElementById('checkout-error');
  const done = document.getElementById('checkout-done');
  const storeKey = `dropwave:checkout:${slug}`;
  const POLL_FOR_MS = 90000;

  const TRY_AGAIN = "Something went wrong on our side. Nothing was charged; please try again.";
  const OFFLINE = "We couldn't reach DropWave. Check your connection and try again; you won't be charged twice.";
  const WORDS = {
    deadline_passed: 'Sorry, this drop closed before your order arrived. Nothing was charged.',
    campaign_closed: 'This drop has closed. Nothing was charged.',
    campaign_cancelled: 'This drop was cancelled by its creator. Nothing was charged.',
    campaign_not_open: 'This drop is not taking orders right now.',
    campaign_not_published: 'This drop is not taking orders yet.',
    campaign_not_found: 'This drop is not taking orders right now.',
    idempotency_key_reused: 'We already have an order from this checkout with other details. Check your email for its confirmation before ordering again.',
    too_many_declines: 'Too many declined cards. Please wait a while before trying again.',
    rate_limited: 'Too many attempts right now. Please wait a minute and try again.',
  };
  const DECLINES = {
    insufficient_funds: 'Your card has insufficient funds. Try another card.',
    expired_card: 'Your card has expired. Try another card.',
    incorrect_cvc: "The card's security code is incorrect. Check it or try another card.",
    incorrect_number: 'The card number is incorrect. Check it or try another card.',
    authentication_required: "Your bank couldn't confirm this payment. Try again or use another card.",
    authorization_unavailable: "We couldn't reach your bank just now. Nothing was charged; please try again.",
  };
  const DECLINED = 'Your card was declined. Nothing was charged. Try another card, or ask your bank why.';
  const NOT_CONFIRMED = "Your bank didn't confirm this payment, so nothing was charged. Try again or use another card.";

  const say = (text) => { statusLine.textContent = text; };
  const fail = (text) => {
    alertLine.textContent = text;
    alertLine.hidden = !text;
  };
  const fieldError = (name, text) => {
    const box = document.getElementById(`${name}-error`);
    box.textContent = text;
    box.hidden = !text;
    const input = form.elements[name];
    if (input) input.setAttribute('aria-invalid', text ? 'true' : 'false');
  };
  // A drop that ships: the server renders the address fields (ship_*), the countries it
  // ships to in the select; the API's answer about the address is shown in place.
  const shipping = document.getElementById('shipping');
  const SHIP_FIELDS = {
    name: 'ship_name', street_address: 'ship_line1', city: 'ship_city',
    country_area: 'ship_region', postal_code: 'ship_postal_code', country_code: 'ship_country',
  };
  const shippingError = (text) => {
    const box = document.getElementById('shipping-error');
    if (!box) return false;
    box.textContent = text;
    box.hidden = !text;
    return true;
  };
  const clearErrors = () => {
    fail('');
    ['email', 'phone', 'card'].forEach((name) => fieldError(name, ''));
    if (shipping) {
      Object.values(SHIP_FIELDS).forEach((name) => fieldError(name, ''));
      shippingError('');
    }
  };
  const readShipping = () => {
    const value = (name) => form.elements[name].value.trim();
    let ok = true;
    ['ship_name', 'ship_line1'].forEach((name) => {
      if (!value(name)) {
        fieldError(name, 'Fill this in to have your order shipped.');
        ok = false;
      }
    });
    if (!ok) return null;
    const address = {
      name: value('ship_name'),
      street_address: [value('ship_line1'), value('ship_line2')].filter(Boolean).join('\n'),
      country_code: value('ship_country'),
    };
    [['city', 'ship_city'], ['country_area', 'ship_region'], ['postal_code', 'ship_postal_code']]
      .forEach(([key, name]) => { if (value(name)) address[key] = value(name); });
    return address;
  };
  const SHIP_WORDS = {
    shipping_address_required: 'Enter the address to ship your order to.',
    country_not_shipped: "This drop doesn't ship to that country.",
    shipping_not_offered: 'This drop ships nothing; reload the page and try again.',
  };

  if (typeof Stripe !== 'function' || !section.dataset.stripeKey) {
    fail("The card form couldn't load. Check your connection and reload the page.");
    return;
  }
  const stripe = Stripe(section.dataset.stripeKey);
  const card = stripe.elements().create('card');
  card.mount('#card-element');
  button.disabled = false;

  // The attempt: its Idempotency-Key and the PaymentMethod it sends (one per attempt).
  let memory = null;
  const load = () => {
    try { return JSON.parse(sessionStorage.getItem(storeKey)); } catch (e) { return memory; }
  };
  const save = (attempt) => {
    memory = attempt;
    try { sessionStorage.setItem(storeKey, JSON.stringify(attempt)); } catch (e) { /* memory */ }
  };
  const forget = () => {
    memory = null;
    try { sessionStorage.removeItem(storeKey); } catch (e) { /* memory */ }
  };
  const newKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, '0')).join('');
  const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

  const readForm = () => {
    const email = form.elements.email.value.trim();
    const phone = form.elements.phone.value.replace(/[\s().-]/g, '');
    let ok = true;
    if (!email || !form.elements.email.checkValidity()) {
      fieldError('email', 'Enter the email address for your confirmation, like name@example.com.');
      ok = false;
    }
    if (phone && !/^\+[1-9]\d{6,14}$/.test(phone)) {
      fieldError('phone', 'Enter your phone number with its country code, like +1 555 123 4567, or leave it empty.');
      ok = false;
    }
    const address = shipping ? readShipping() : undefined;
    if (!ok || address === null) return null;
    const body = { email };
    if (address) body.shipping_address = address;
    if (phone) {
      body.phone = phone;
      body.sms_consent = form.elements.sms_consent.checked;
    }
    if (section.dataset.ref) body.referral_code = section.dataset.ref;
    body.source = section.dataset.source || 'storefront'; // campaigns counts 'storefront' as direct
    return body;
  };

  const problem = (response, answer, attempt) => {
    if (answer.code === 'validation_error' && Array.isArray(answer.errors)) {
      let placed = false;
      answer.errors.forEach((error) => {
        const field = Array.isArray(error.loc) ? error.loc[1] : '';
        if (field === 'email') {
          fieldError('email', 'Check your email address.');
          placed = true;
        } else if (field === 'phone') {
          fieldError('phone', 'Enter your phone number with its country code, like +1 555 123 4567.');
          placed = true;
        } else if (field === 'shipping_address' && shipping) {
          const name = SHIP_FIELDS[error.loc[2]];
          if (name) fieldError(name, 'Check this part of your address.');
          else shippingError('Check your shipping address.');
          placed = true;
        } else if (field === 'payment_method_id') {
          delete attempt.pm;
          save(attempt);
          fieldError('card', 'Check your card details and try again.');
          placed = true;
        }
      });
      if (!placed) fail(TRY_AGAIN);
    } else if (answer.code === 'country_not_shipped' && shipping) {
      fieldError('ship_country', SHIP_WORDS.country_not_shipped);
    } else if (answer.code in SHIP_WORDS || answer.code === 'shipping_address_invalid') {
      // The detail names the address's wrong fields (never their values).
      if (!shippingError(SHIP_WORDS[answer.code] || answer.detail || 'Check your shipping address.')) {
        fail(SHIP_WORDS[answer.code] || TRY_AGAIN);
      }
    } else if (WORDS[answer.code]) {
      fail(WORDS[answer.code]);
    } else if (response.status === 429) {
      fail(WORDS.rate_limited);
    } else {
      fail(TRY_AGAIN);
    }
  };

  // The order's own price (an early-bird tier may differ from the page's), as Stripe counts
  // it: in the currency's minor units.
  const money = (minor, currency) => {
    const format = new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() });
    const digits = format.resolvedOptions().maximumFractionDigits;
    return format.format(minor / 10 ** digits);
  };

  const confirmed = (order, token) => {
    forget();
    form.hidden = true;
    done.querySelector('.buyer-number').textContent = `You're buyer #${order.buyer_number}`;
    done.querySelector('.amount').textContent = money(order.amount_cents, order.currency);
    // The order page reads its token from this tab's sessionStorage (never from a URL).
    const link = done.querySelector('.order-link');
    try {
      sessionStorage.setItem(`dropwave:order:${order.id}`, token);
      link.href = `/orders/${order.id}`;
      link.hidden = false;
    } catch (e) { /* the confirmation mail has the link */ }
    done.hidden = false;
    done.focus();
  };

  const cancel = (order, token) => fetch(`/api/v1/orders/${order.id}/cancel`, {
    method: 'POST', headers: { 'X-Order-Token': token },
  }).catch(() => null);

  // Follow the order until it is confirmed, declined, or we stop waiting (bounded).
  const follow = async (placed) => {
    const token = placed.order_token;
    let order = placed;
    let authenticated = null;
    let delay = 500;
    const until = Date.now() + POLL_FOR_MS;
    for (;;) {
      if (order.status === 'authorized' || order.status === 'captured') {
        confirmed(order, token);
        return true;
      }
      if (order.status === 'failed') {
        forget();
        fail(DECLINES[order.decline_code] || DECLINES[order.failure_code] || DECLINED);
        return false;
      }
      if (order.status === 'cancelled' || order.status === 'refunded') {
        forget();
        fail('This order was cancelled, so nothing will be charged. You can try again.');
        return false;
      }
      if (order.status === 'requires_action' && order.client_secret
          && order.client_secret !== authenticated) {
        authenticated = order.client_secret;
        say('Your bank wants to confirm this payment…');
        const result = await stripe.confirmCardPayment(order.client_secret);
        const intent = result && result.paymentIntent;
        if (!result || result.error || !intent || intent.status === 'requires_payment_method') {
          await cancel(order, token);
          forget();
          fail(NOT_CONFIRMED);
          return false;
        }
      }
      say(`You're buyer #${order.buyer_number}: confirming your card…`);
      if (Date.now() > until) {
        fail(`We have your order (buyer #${order.buyer_number}) and are still confirming your card. We'll email you as soon as it's done.`);
        return false;
      }
      await sleep(delay);
      delay = Math.min(delay * 1.5, 3000);
      const response = await fetch(`/api/v1/orders/${order.id}`, {
        headers: { 'X-Order-Token': token }, cache: 'no-store',
      }).catch(() => null);
      const next = response && response.ok ? await response.json().catch(() => null) : null;
      if (next) order = next;
    }
  };

  const checkout = async () => {
    const body = readForm();
    if (!body) return false;
    const attempt = load() || { key: newKey() };
    save(attempt);
    if (!attempt.pm) {
      say('Checking your card…');
      const result = await stripe.createPaymentMethod({ type: 'card', card });
      if (!result || result.error || !result.paymentMethod) {
        const error = result && result.error;
        const readable = error && (error.type === 'card_error' || error.type === 'validation_error');
        fieldError('card', readable ? error.message : 'Check your card number, expiry date and security code.');
        return false;
      }
      attempt.pm = result.paymentMethod.id;
      save(attempt);
    }
    body.payment_method_id = attempt.pm;
    say('Placing your order…');
    let response;
    try {
      response = await fetch(`/api/v1/campaigns/${encodeURIComponent(slug)}/orders`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': attempt.key },
        body: JSON.stringify(body),
      });
    } catch (e) {
      fail(OFFLINE);
      return false;
    }
    const answer = await response.json().catch(() => ({}));
    if (response.status === 200 || response.status === 201) return follow(answer);
    problem(response, answer, attempt);
    return false;
  };

  let busy = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    button.disabled = true;
    clearErrors();
    let finished = false;
    try {
      finished = await checkout();
    } catch (e) {
      fail(TRY_AGAIN);
    } finally {
      busy = false;
      say('');
      button.disabled = finished;
    }
  });
})();
