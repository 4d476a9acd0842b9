package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// Token mode: log in, write the token to the sink, renew it, and log in
// again before it expires. A consumer such as Vault Agent's token_file
// method renews the same token on its own and re-reads the sink only when
// that token can no longer be renewed, so the sink must hold the next token
// by then, and the old one must stay valid: it is never revoked.

// runToken runs token mode until ctx is done.
func (a *agent) runToken(ctx context.Context) {
	loginBackoff := newRetryBackoff(a.cfg.maxBackoff)
	// Kept across logins, reset by a successful renewal: a token that is
	// issued but cannot be renewed must not turn into a login loop.
	renewBackoff := newRetryBackoff(a.cfg.maxBackoff)
	rotation := time.NewTicker(a.cfg.rotationCheck)
	defer rotation.Stop()
	for ctx.Err() == nil {
		// wait is the delay before the next login: none after a token
		// that served its time, a backoff delay after a failure.
		var wait time.Duration
		secret, err := a.loginToSink(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			wait = loginBackoff.next()
			a.log.Warn(fmt.Sprintf("login failed: %s; retrying in %s", describe(err), round(wait)))
		default:
			loginBackoff.Reset()
			// A rotation check is due a full period after any login,
			// which took up whatever rotation there was.
			rotation.Reset(a.cfg.rotationCheck)
			if err := a.keepToken(ctx, secret, rotation.C, renewBackoff); err != nil {
				wait = renewBackoff.next()
				a.log.Warn(fmt.Sprintf("%s; logging in again in %s", err, round(wait)))
			}
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
}

// loginToSink logs in and writes the token to the sink. A token that could
// not be written is revoked: nobody can use it.
func (a *agent) loginToSink(ctx context.Context) (*api.Secret, error) {
	secret, err := a.login(ctx)
	if err != nil {
		return nil, err
	}
	// No trailing newline, like Vault Agent's file sink: readers take the
	// file's content as the token.
	if err := client.WriteSecretFile(a.cfg.sink, []byte(secret.Auth.ClientToken)); err != nil {
		if rerr := a.revoke(ctx, secret.Auth.ClientToken); rerr != nil {
			err = fmt.Errorf("%w (and revoking the token failed: %s)", err, describe(rerr))
		}
		return nil, fmt.Errorf("writing the sink %s: %w", a.cfg.sink, err)
	}
	renewable := "renewable"
	if !secret.Auth.Renewable {
		renewable = "not renewable"
	}
	a.log.Info(fmt.Sprintf("logged in (accessor %s, generation %s, ttl %s, %s, %s); token written to %s", secret.Auth.Accessor,
		secret.Auth.Metadata["generation"], client.Seconds(secret.Auth.LeaseDuration), renewable,
		a.stateGenerations(), a.cfg.sink))
	return secret, nil
}

// keepToken renews the token until it is time to replace it (nil), ctx is
// done (nil), or renewing fails (the error). It also runs the rotation
// checks that fall due meanwhile.
func (a *agent) keepToken(ctx context.Context, secret *api.Secret, rotationC <-chan time.Time, renewBackoff *retryBackoff) error {
	accessor := secret.Auth.Accessor
	issued := time.Now()
	ttl := client.Seconds(secret.Auth.LeaseDuration)
	renewable := secret.Auth.Renewable && ttl > 0

	var done <-chan error
	var renewed <-chan *api.RenewOutput
	if renewable {
		w, err := a.vault.NewLifetimeWatcher(&api.LifetimeWatcherInput{
			Secret: secret,
			// Any failure ends the watcher, so that the token is
			// replaced at once rather than retried until it expires.
			// Except one: the watcher takes "permission denied" (a
			// token revoked behind our back) for a token that cannot be
			// renewed, and ends only near the end of its lease.
			RenewBehavior: api.RenewBehaviorErrorOnErrors,
		})
		if err != nil {
			return fmt.Errorf("watching token %s: %w", accessor, err)
		}
		go w.Start()
		defer w.Stop()
		done, renewed = w.DoneCh(), w.RenewCh()
	}

	// refresh fires when the token is to be replaced; set once, by the
	// first sign that the token can no longer be extended.
	var refresh <-chan time.Time
	schedule := func(extendable bool) {
		at := tokenRefreshAt(issued, ttl, extendable, time.Now())
		if at.IsZero() || refresh != nil {
			return
		}
		t := time.NewTimer(time.Until(at))
		refresh = t.C
	}
	schedule(renewable)

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-rotationC:
			if err := a.rotationLogin(ctx, "rotation check"); err != nil && ctx.Err() == nil {
				a.log.Warn(fmt.Sprintf("rotation check failed: %s; next one in %s", describe(err), a.cfg.rotationCheck))
			}
		case err := <-done:
			if err != nil {
				return fmt.Errorf("renewing token %s failed: %s", accessor, describe(err))
			}
			a.log.Info(fmt.Sprintf("token %s can no longer be renewed; logging in again", accessor))
			return nil
		case r := <-renewed:
			renewBackoff.Reset()
			lease := 0
			if r.Secret != nil && r.Secret.Auth != nil {
				lease = r.Secret.Auth.LeaseDuration
			}
			a.log.Info(fmt.Sprintf("renewed token %s: ttl %s", accessor, client.Seconds(lease)))
			if capped(ttl, lease) {
				schedule(false)
			}
		case <-refresh:
			if renewable {
				a.log.Info(fmt.Sprintf("token %s is near its max TTL; logging in again", accessor))
			} else {
				a.log.Info(fmt.Sprintf("token %s cannot be renewed and has used half its TTL; logging in again", accessor))
			}
			return nil
		}
	}
}

// capped reports whether a renewal that returned lease seconds no longer
// extends a token issued with ttl: the token's max TTL is near.
func capped(ttl time.Duration, lease int) bool {
	return client.Seconds(lease) < ttl
}

// tokenRefreshAt is when to replace a token issued at issued with lease
// ttl, or the zero time to keep renewing it. A token is kept while it can
// be extended to its full lease. Once it cannot (it is not renewable, or a
// renewal came back short because its max TTL is near) it is replaced at
// once, but not before half its lease has passed: a token whose max TTL
// equals its TTL is short from its first renewal, and replacing it at once
// would log in again and again. Half the lease is also well before a
// consumer's own lifetime watcher gives the token up (at 80 to 90% of it),
// so the sink already holds the next token when the consumer re-reads it.
// A token with no TTL never expires and is never replaced.
func tokenRefreshAt(issued time.Time, ttl time.Duration, extendable bool, now time.Time) time.Time {
	if ttl <= 0 || extendable {
		return time.Time{}
	}
	half := issued.Add(ttl / 2)
	if now.After(half) {
		return now
	}
	return half
}
