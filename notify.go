package authkit

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/jackc/pgx/v5/stdlib"
)

// This file carries version bumps to every VersionCache in front of a
// Store: in memory directly, in PostgreSQL by LISTEN/NOTIFY. A bump through
// the kit's PostgreSQL store notifies in the statement that increments the
// version (one transaction, so the notification goes out exactly when the
// new version is committed); one listener per Store, on a dedicated
// connection, makes each watching cache forget that user.

// watchers are the caches in front of one store. They are held weakly: a
// cache the program drops is not kept alive by its store.
type watchers struct {
	mu     sync.Mutex
	caches []weak.Pointer[VersionCache]
}

func (w *watchers) add(c *VersionCache) {
	w.mu.Lock()
	w.caches = append(w.caches, weak.Make(c))
	w.mu.Unlock()
}

// each calls f for every live cache, and drops the dead ones.
func (w *watchers) each(f func(*VersionCache)) {
	w.mu.Lock()
	live := w.caches[:0]
	var cs []*VersionCache
	for _, p := range w.caches {
		if c := p.Value(); c != nil {
			live = append(live, p)
			cs = append(cs, c)
		}
	}
	clear(w.caches[len(live):])
	w.caches = live
	w.mu.Unlock()
	for _, c := range cs {
		f(c)
	}
}

func (w *watchers) forget(userID string) { w.each(func(c *VersionCache) { c.Forget(userID) }) }
func (w *watchers) flush()               { w.each((*VersionCache).flush) }

// The listener's reconnection delays: the first retry after a lost
// connection comes quickly, later ones back off.
const (
	listenRetryMin = 50 * time.Millisecond
	listenRetryMax = 5 * time.Second
)

// listener holds one connection of db in LISTEN on the store's channel and
// feeds the watchers. While it is disconnected the caches fall back to
// their TTL; on every (re)connection it flushes them, since notifications
// sent meanwhile are lost.
type listener struct {
	db      *sql.DB
	channel string // SQL that names the channel (see postgresSQL.channel)
	w       *watchers
	stop    context.CancelFunc
	done    chan struct{}
	up      func()    // test hook: called after each successful LISTEN and flush
	events  eventHook // the Store's: EventVersionNotified
}

func startListener(db *sql.DB, channelSQL string, w *watchers, events eventHook) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{db: db, channel: channelSQL, w: w, stop: cancel, done: make(chan struct{}), events: events}
	go l.run(ctx)
	return l
}

// close stops the listener and waits for it to let go of its connection.
func (l *listener) close() {
	l.stop()
	<-l.done
}

func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	delay := listenRetryMin
	for {
		connected, err := l.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errNotPgx) {
			slog.Warn("authkit: the database driver is not pgx: version bumps reach other instances within the version cache's TTL only")
			return
		}
		if connected {
			delay = listenRetryMin
		}
		slog.Warn("authkit: lost the version notifications; caches fall back to their TTL until the listener reconnects",
			"err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, listenRetryMax)
	}
}

var errNotPgx = errors.New("authkit: not a pgx connection")

// parseNotification reads a bump notification's payload: the time of
// sending in Unix microseconds (16 digits, from 2001 to 2286), a space, the
// user ID (notifyPayload in postgres.go). Any other payload is an older
// kit's, the user ID alone, without a time.
func parseNotification(payload string) (userID string, sent time.Time) {
	us, id, ok := strings.Cut(payload, " ")
	if !ok || len(us) != 16 || us[0] < '1' || us[0] > '9' {
		return payload, time.Time{}
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil {
		return payload, time.Time{}
	}
	return id, time.UnixMicro(n)
}

// listen runs one connection: LISTEN, flush, then forget each notified
// user until the connection or ctx ends. It reports whether LISTEN
// succeeded. The connection is discarded afterwards, never returned to the
// pool still listening.
func (l *listener) listen(ctx context.Context) (connected bool, err error) {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var channel string
	if err := conn.QueryRowContext(ctx, l.channel).Scan(&channel); err != nil {
		return false, err
	}
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return errNotPgx
		}
		pc := c.Conn()
		// channel is authkit_v and digits (postgresSQL.channel).
		if _, err := pc.Exec(ctx, `LISTEN "`+channel+`"`); err != nil {
			return errors.Join(err, driver.ErrBadConn)
		}
		connected = true
		l.w.flush()
		if l.up != nil {
			l.up()
		}
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				return errors.Join(err, driver.ErrBadConn) // discard it: it may be listening still
			}
			userID, sent := parseNotification(n.Payload)
			l.w.forget(userID)
			if l.events != nil {
				var lag time.Duration // 0 from an older kit, whose payload has no time
				if !sent.IsZero() {
					lag = max(0, time.Since(sent))
				}
				l.events(ctx, Event{Type: EventVersionNotified, UserID: userID, Duration: lag})
			}
		}
	})
	if errors.Is(err, errNotPgx) {
		return false, err
	}
	return connected, fmt.Errorf("authkit: version notifications: %w", err)
}
