package phonefleet

import (
	"errors"
	"fmt"
)

// KooPhone error codes. They are the exact error_code strings of the KooPhone
// Open API and the API Gateway in front of it; docs/api.md ("Status by
// code") gives each one's HTTP status.
const (
	ECodeOK        = "0"                   // success
	ENoRequestID   = "KOOPHONE.API.0002"   // a required x-request-id header is missing
	EInvalid       = "KOOPHONE.API.1000"   // a request parameter is wrong
	EForbidden     = "KOOPHONE.API.1001"   // the token lacks the action
	ENotOwned      = "KOOPHONE.API.1012"   // an ID is not an instance of the caller's tenant
	ESKUNotFound   = "KOOPHONE.API.3002"   // unknown SKU, band SKU or region
	EOSRequired    = "KOOPHONE.API.3003"   // purchase without os
	EMonthPeriod   = "KOOPHONE.API.3006"   // month period outside 1–9
	EYearPeriod    = "KOOPHONE.API.3007"   // year period outside 1–3
	EPayPerUse     = "KOOPHONE.API.5001"   // pay-per-use instances cannot be unsubscribed
	ECannotAssign  = "KPAPI.2209"          // an instance cannot be assigned (not running, busy, or another user's)
	ENoBinding     = "KOOPHONE.API.2210"   // the user-instance binding does not exist
	ENoInstance    = "KOOPHONE.API.4001"   // prepare: the instance does not exist
	ENotAllRunning = "KOOPHONE.API.5005"   // not all instances are running and idle
	EInternal      = "KOOPHONE.API.9999"   // internal service error
	EUnauthorized  = "APIGW.0301"          // token missing, unknown, revoked or expired
	ERateLimited   = "APIGW.0308"          // the tenant's request rate was exceeded
	ENoSuchAPI     = "APIGW.0101"          // no such API or wrong method
	EJobNotFound   = "PHONEFLEET.JOB.0001" // data-plane report: no such job (404)
	EJobFinished   = "PHONEFLEET.JOB.0002" // data-plane report: the job ended otherwise (409)
	EBadSignature  = "PHONEFLEET.JOB.0003" // data-plane report: signature missing, wrong, out of its window or replayed (401)
	ENotFound      = "NOT_FOUND"           // operator-side lookups (tenant, token, job); never sent by the API
	EConflict      = "CONFLICT"            // operator-side uniqueness (tenant name, SKU ID); never sent by the API
)

// ErrOutcomeUnknown is wrapped by the internal error of a write whose commit
// was sent to the database but whose answer was lost, when reading back
// could not tell whether it committed either. The API answers it as
// KOOPHONE.API.9999 with a message starting "outcome unknown:" and the
// header X-Phonefleet-Outcome: unknown. Retrying is safe.
var ErrOutcomeUnknown = errors.New("outcome unknown")

// Error is an application error with a KooPhone error code and a message that
// is safe to show to the caller. Any other error is internal.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("phonefleet error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an application error, "" for nil and
// EInternal for any other error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of an application error, "" for nil and
// "Internal service error." for any other error, whose details stay in the log.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal service error."
}
