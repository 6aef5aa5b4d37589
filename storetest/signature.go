package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// testRememberSignature: a key is fresh once until it expires (by the
// store's clock), then fresh again; of many callers with one key at once
// exactly one gets fresh; a bad key is EInvalid.
func testRememberSignature(t *testing.T, open Opener) {
	t.Run("OK", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		ctx := t.Context()
		key := phonefleet.ReplayKey("report", []byte("mac-1"))
		until := clk.Now().Add(6 * time.Minute)
		for i, want := range []bool{true, false, false} {
			fresh, err := s.RememberSignature(ctx, key, until)
			if err != nil || fresh != want {
				t.Fatalf("RememberSignature #%d=%v, %v; want %v", i+1, fresh, err, want)
			}
		}
		// Another key is fresh; so is the same digest under another kind.
		for _, k := range []string{phonefleet.ReplayKey("report", []byte("mac-2")), phonefleet.ReplayKey("aksk", []byte("mac-1"))} {
			if fresh, err := s.RememberSignature(ctx, k, until); err != nil || !fresh {
				t.Fatalf("RememberSignature(%s)=%v, %v; want fresh", k, fresh, err)
			}
		}
		// Until its expiry the key stays taken; after it, it is fresh again.
		clk.Add(6*time.Minute - time.Microsecond)
		if fresh, err := s.RememberSignature(ctx, key, until); err != nil || fresh {
			t.Fatalf("RememberSignature just before expiry=%v, %v; want taken", fresh, err)
		}
		clk.Add(time.Microsecond)
		if fresh, err := s.RememberSignature(ctx, key, clk.Now().Add(time.Minute)); err != nil || !fresh {
			t.Fatalf("RememberSignature after expiry=%v, %v; want fresh", fresh, err)
		}
		if fresh, err := s.RememberSignature(ctx, key, clk.Now().Add(time.Minute)); err != nil || fresh {
			t.Fatalf("RememberSignature after taking it over=%v, %v; want taken", fresh, err)
		}
		// Expired keys are swept as others come in (a minute apart);
		// whatever was swept, an expired key is fresh and a live one not.
		clk.Add(2 * time.Minute)
		for i := range 3 {
			k := phonefleet.ReplayKey("report", []byte{byte(i)})
			if fresh, err := s.RememberSignature(ctx, k, clk.Now().Add(2*time.Minute)); err != nil || !fresh {
				t.Fatalf("RememberSignature(new %d)=%v, %v", i, fresh, err)
			}
			clk.Add(time.Minute)
		}
		if fresh, err := s.RememberSignature(ctx, phonefleet.ReplayKey("report", []byte{2}), clk.Now()); err != nil || fresh {
			t.Fatalf("RememberSignature(live)=%v, %v; want taken", fresh, err)
		}
		if fresh, err := s.RememberSignature(ctx, key, clk.Now().Add(time.Minute)); err != nil || !fresh {
			t.Fatalf("RememberSignature(swept)=%v, %v; want fresh", fresh, err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		key := phonefleet.ReplayKey("aksk", []byte("AK"), []byte("sig"))
		var fresh atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				ok, err := s.RememberSignature(t.Context(), key, clk.Now().Add(time.Minute))
				if err != nil {
					t.Error(err)
				} else if ok {
					fresh.Add(1)
				}
			})
		}
		wg.Wait()
		if n := fresh.Load(); n != 1 {
			t.Fatalf("%d of 16 callers got the key fresh, want 1", n)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		for _, k := range []string{"", string(make([]byte, phonefleet.MaxReplayKey+1))} {
			_, err := s.RememberSignature(t.Context(), k, clk.Now())
			wantCode(t, err, phonefleet.EInvalid)
		}
	})
}
