package phonefleet_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/phonefleet/phonefleet"
)

func TestErrorCodeAndMessage(t *testing.T) {
	app := phonefleet.Errorf(phonefleet.ENotOwned, "instances do not belong to the tenant: %s", "ab12")
	for _, tt := range []struct {
		name      string
		err       error
		code, msg string
	}{
		{"Nil", nil, "", ""},
		{"App", app, "KOOPHONE.API.1012", "instances do not belong to the tenant: ab12"},
		{"Wrapped", fmt.Errorf("unsubscribe: %w", app), "KOOPHONE.API.1012", "instances do not belong to the tenant: ab12"},
		{"WrappedTwice", fmt.Errorf("tx: %w", fmt.Errorf("unsubscribe: %w", app)), "KOOPHONE.API.1012", "instances do not belong to the tenant: ab12"},
		{"Joined", errors.Join(errors.New("rollback failed"), app), "KOOPHONE.API.1012", "instances do not belong to the tenant: ab12"},
		{"Plain", errors.New("database is locked"), "KOOPHONE.API.9999", "Internal service error."},
		{"WrappedPlain", fmt.Errorf("insert refund: %w", errors.New("disk I/O error")), "KOOPHONE.API.9999", "Internal service error."},
		{"Canceled", context.Canceled, "KOOPHONE.API.9999", "Internal service error."},
		{"NotWrappedWithV", fmt.Errorf("lost: %v", app), "KOOPHONE.API.9999", "Internal service error."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := phonefleet.ErrorCode(tt.err); got != tt.code {
				t.Fatalf("ErrorCode=%q, want %q", got, tt.code)
			}
			if got := phonefleet.ErrorMessage(tt.err); got != tt.msg {
				t.Fatalf("ErrorMessage=%q, want %q", got, tt.msg)
			}
		})
	}
}

func TestErrorf(t *testing.T) {
	err := phonefleet.Errorf(phonefleet.EInvalid, "%s must be 1-%d characters", "regionId", 64)
	if err.Code != "KOOPHONE.API.1000" || err.Message != "regionId must be 1-64 characters" {
		t.Fatalf("Errorf=%+v, want code KOOPHONE.API.1000 and the formatted message", err)
	}
	if got, want := err.Error(), "phonefleet error: code=KOOPHONE.API.1000 message=regionId must be 1-64 characters"; got != want {
		t.Fatalf("Error()=%q, want %q", got, want)
	}
	// The message is taken as is when there are no arguments.
	if got := phonefleet.Errorf(phonefleet.EInvalid, "100%% sure").Message; got != "100% sure" {
		t.Fatalf("Message=%q, want %q", got, "100% sure")
	}
}

func TestErrorCodes(t *testing.T) {
	// The codes are the wire strings of docs/api.md ("Status by code").
	for got, want := range map[string]string{
		phonefleet.ECodeOK:       "0",
		phonefleet.EInvalid:      "KOOPHONE.API.1000",
		phonefleet.EForbidden:    "KOOPHONE.API.1001",
		phonefleet.ENotOwned:     "KOOPHONE.API.1012",
		phonefleet.ESKUNotFound:  "KOOPHONE.API.3002",
		phonefleet.EOSRequired:   "KOOPHONE.API.3003",
		phonefleet.EMonthPeriod:  "KOOPHONE.API.3006",
		phonefleet.EYearPeriod:   "KOOPHONE.API.3007",
		phonefleet.EPayPerUse:    "KOOPHONE.API.5001",
		phonefleet.EInternal:     "KOOPHONE.API.9999",
		phonefleet.EUnauthorized: "APIGW.0301",
		phonefleet.ERateLimited:  "APIGW.0308",
		phonefleet.ENoSuchAPI:    "APIGW.0101",
	} {
		if got != want {
			t.Fatalf("code %q, want %q", got, want)
		}
	}
}
