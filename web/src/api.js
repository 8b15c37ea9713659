// Copyright 2026 UnityKernel contributors. Licensed under the Apache License, Version 2.0.
// The dashboard's JSON API as the page uses it: reads are plain GETs; every POST carries the
// X-Unity-Live header (which no cross-site form can send) and the token cookie.

export async function getJson(url) {
  const res = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

export async function postJson(url, value) {
  const res = await fetch(url, {
    method: 'POST', credentials: 'same-origin', cache: 'no-store',
    headers: { 'Content-Type': 'application/json', 'X-Unity-Live': '1' },
    body: JSON.stringify(value),
  });
  const body = await res.json().catch(() => ({ error: res.statusText }));
  return { status: res.status, ok: res.ok, body };
}
