// The live alert stream of the console pages: connects, renews the session when the server ends
// the stream for it, reconnects after a drop; tells its page of each notice and of the connection.

import { refreshSession, toSignIn } from './common.js';

const NOTICE_TYPES = ['AlertRaised', 'AlertUpdated', 'AlertTransitioned'];

/**
 * Follow /api/v1/alerts/stream. `onNotice(type, notice)` gets each alert notice, `onState(kind, text)`
 * the connection's state ('live', 'reconnecting', 'offline'), and `onReopen()` runs when a dropped
 * stream is back (notices sent meanwhile are lost: read the list again).
 */
export function followAlerts({ onNotice, onState, onReopen }) {
  let hadStream = false;

  function connect() {
    const source = new EventSource('/api/v1/alerts/stream');
    source.addEventListener('open', () => {
      onState('live', 'live');
      if (hadStream) onReopen();
      hadStream = true;
    });
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused outright (e.g. a 401 once the access token has expired): renew, then retry.
        onState('offline', 'offline, retrying');
        window.setTimeout(() => renewAndReconnect(source), 5000);
      } else {
        onState('reconnecting', 'reconnecting');
      }
    });
    // The server ends the stream when the access token expires or the session ends.
    source.addEventListener('reauth', () => renewAndReconnect(source));
    for (const type of NOTICE_TYPES) {
      source.addEventListener(type, (event) => {
        let notice;
        try {
          notice = JSON.parse(event.data);
        } catch (_) {
          return;
        }
        if (notice.alert_id) onNotice(type, notice);
      });
    }
  }

  /** Close the stream, renew the access token and reconnect; sign in again if the session is over. */
  async function renewAndReconnect(source) {
    source.close();
    onState('reconnecting', 'reconnecting');
    let renewed = false;
    try {
      renewed = await refreshSession();
    } catch (_) {
      window.setTimeout(() => renewAndReconnect(source), 5000); // the server is unreachable
      return;
    }
    if (renewed) connect();
    else toSignIn();
  }

  connect();
}
