// Package http is phonefleet's KooPhone-compatible JSON API: the server, its
// middleware, the request decoders and the handlers.
//
// Every response has Content-Type: application/json and an X-Request-Id
// header, and its body is one of two envelopes. Success is HTTP 200 with
//
//	{"data":<value or null>,"error_code":"0","error_msg":"OK"}
//
// written by writeData; an error is
//
//	{"error_code":"<code>","error_msg":"<message>"}
//
// written by Error, which takes the HTTP status from one table keyed by the
// error code:
//
//	KOOPHONE.API.1000       400 (413 when the body is over 1 MiB)
//	KOOPHONE.API.1001       400
//	KOOPHONE.API.1012       400
//	KOOPHONE.API.3002       400
//	KOOPHONE.API.3003       400
//	KOOPHONE.API.3006/3007  400
//	KOOPHONE.API.5001       400
//	KOOPHONE.API.0002       400 (missing x-request-id)
//	KPAPI.2209              400
//	KOOPHONE.API.2210       400
//	KOOPHONE.API.4001       400
//	KOOPHONE.API.5005       400
//	PHONEFLEET.JOB.0001     404 (data-plane report on an unknown job)
//	PHONEFLEET.JOB.0002     409 (data-plane report on a job that ended otherwise)
//	PHONEFLEET.JOB.0003     401 (data-plane report without a valid signature)
//	PHONEFLEET.QUOTA.0001   400
//	KOOPHONE.API.1004       400 (the tenant is suspended)
//	PHONEFLEET.ADMIN.0001   404 (admin API: no such tenant, user, token, SKU or job)
//	PHONEFLEET.ADMIN.0002   409 (admin API: a name taken, a tenant that holds instances)
//	KOOPHONE.API.9999       500 (503 from /readyz); details only in the log
//	KOOPHONE.API.9999       500 (503 from /readyz); details only in the log;
//	                        "outcome unknown: ..." with X-Phonefleet-Outcome: unknown
//	                        when the store cannot tell whether a commit landed
//	APIGW.0301              401; the body also has "request_id"
//	APIGW.0308              429 with Retry-After
//	APIGW.0101              404 (405 with Allow for a wrong method)
//
// Any error that is not a *phonefleet.Error, or whose code is not in the
// table, is answered as KOOPHONE.API.9999 with a generic message.
package http

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/phonefleet/phonefleet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics of the API. They are registered with the default registry.
var (
	requestsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "phonefleet_http_requests_total",
		Help: "HTTP requests answered, by route pattern and HTTP status.",
	}, []string{"pattern", "code"})

	requestDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "phonefleet_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route pattern.",
		Buckets: prometheus.DefBuckets,
	}, []string{"pattern"})

	auditUnwrittenTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "phonefleet_http_audit_failures_unwritten_total",
		Help: "Failure audit events the store could not write (their log line is the record).",
	})

	errorsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "phonefleet_http_errors_total",
		Help: "Error responses, by error_code.",
	}, []string{"code"})
)

// statusByCode is the one table from error code to HTTP status.
var statusByCode = map[string]int{
	phonefleet.EInvalid:       http.StatusBadRequest,
	phonefleet.EForbidden:     http.StatusBadRequest,
	phonefleet.ENotOwned:      http.StatusBadRequest,
	phonefleet.ESKUNotFound:   http.StatusBadRequest,
	phonefleet.EOSRequired:    http.StatusBadRequest,
	phonefleet.EMonthPeriod:   http.StatusBadRequest,
	phonefleet.EYearPeriod:    http.StatusBadRequest,
	phonefleet.EPayPerUse:     http.StatusBadRequest,
	phonefleet.EQuota:         http.StatusBadRequest,
	phonefleet.ENoRequestID:   http.StatusBadRequest,
	phonefleet.ECannotAssign:  http.StatusBadRequest,
	phonefleet.ENoBinding:     http.StatusBadRequest,
	phonefleet.ENoInstance:    http.StatusBadRequest,
	phonefleet.ENotAllRunning: http.StatusBadRequest,
	phonefleet.EFrozen:        http.StatusBadRequest,
	phonefleet.EJobNotFound:   http.StatusNotFound,
	phonefleet.EJobFinished:   http.StatusConflict,
	phonefleet.EBadSignature:  http.StatusUnauthorized,
	phonefleet.EInternal:      http.StatusInternalServerError,
	phonefleet.EUnauthorized:  http.StatusUnauthorized,
	phonefleet.ERateLimited:   http.StatusTooManyRequests,
	phonefleet.ENoSuchAPI:     http.StatusNotFound,
	phonefleet.ESuspended:     http.StatusBadRequest,
	phonefleet.EAdminNotFound: http.StatusNotFound,
	phonefleet.EAdminConflict: http.StatusConflict,
}

// statusError makes Error answer a status other than the table's for the
// code of the error it wraps: 413 for an oversized body, 405 for a wrong
// method, 503 from /readyz.
type statusError struct {
	err    error
	status int
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// errorResponse is the error envelope. RequestID is only sent with
// APIGW.0301, as the API Gateway does.
type errorResponse struct {
	Code      string `json:"error_code"`
	Message   string `json:"error_msg"`
	RequestID string `json:"request_id,omitempty"`
}

// dataResponse is the success envelope.
type dataResponse struct {
	Data    any    `json:"data"`
	Code    string `json:"error_code"`
	Message string `json:"error_msg"`
}

// Error writes err as the error envelope with the status of its code. An
// internal error (any error that is not a *phonefleet.Error, or whose code
// the API never sends) is logged with the request ID and answered with a
// generic message. Every error is counted by code.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := phonefleet.ErrorCode(err), phonefleet.ErrorMessage(err)
	status, ok := statusByCode[code]
	if !ok || code == phonefleet.EInternal {
		code, msg, status = phonefleet.EInternal, internalMessage, http.StatusInternalServerError
		if errors.Is(err, phonefleet.ErrOutcomeUnknown) {
			msg = outcomeUnknownMessage
			w.Header().Set("X-Phonefleet-Outcome", "unknown")
		}
		if clientGone(r) {
			// The client abandoned the request: not a failure of ours. It
			// is logged at debug level and counted as 499, as proxies do.
			status = StatusClientClosedRequest
			loggerFrom(r.Context()).Debug("client closed the request",
				"request_id", phonefleet.RequestIDFromContext(r.Context()),
				"method", r.Method, "path", r.URL.Path, "error", err.Error())
		} else {
			loggerFrom(r.Context()).Error("internal error",
				"request_id", phonefleet.RequestIDFromContext(r.Context()),
				"method", r.Method, "path", r.URL.Path, "error", err.Error())
		}
	}
	var se *statusError
	if errors.As(err, &se) {
		status = se.status
	}
	label := code
	if status == StatusClientClosedRequest {
		label = clientClosedCode
	}
	errorsTotal.WithLabelValues(label).Inc()

	resp := errorResponse{Code: code, Message: msg}
	if code == phonefleet.EUnauthorized {
		resp.RequestID = phonefleet.RequestIDFromContext(r.Context())
	}
	writeJSON(w, r, status, resp)
}

// StatusClientClosedRequest is the status recorded (in metrics and the
// access log) for a request whose client went away before the answer: the
// client never sees it. nginx uses the same number.
const StatusClientClosedRequest = 499

// clientClosedCode is the error_code label of such requests in
// phonefleet_http_errors_total: they are not internal errors.
const clientClosedCode = "client_closed"

// clientGone reports whether the client abandoned r: its context was
// cancelled (not timed out by the server's own request deadline).
func clientGone(r *http.Request) bool {
	return errors.Is(r.Context().Err(), context.Canceled)
}

// writeData writes v as the success envelope with status 200.
func writeData(w http.ResponseWriter, r *http.Request, v any) {
	writeJSON(w, r, http.StatusOK, dataResponse{Data: v, Code: phonefleet.ECodeOK, Message: "OK"})
}

// writeJSON is the single place that encodes a body. A value that cannot be
// encoded is a bug: it is logged and answered as an internal error.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	buf, err := json.Marshal(v)
	if err != nil {
		loggerFrom(r.Context()).Error("encode response",
			"request_id", phonefleet.RequestIDFromContext(r.Context()), "error", err.Error())
		errorsTotal.WithLabelValues(phonefleet.EInternal).Inc()
		status, buf = http.StatusInternalServerError, internalErrorBody
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf)
}

// outcomeUnknownMessage answers an internal error after which the store
// cannot tell whether the change was applied.
const outcomeUnknownMessage = "outcome unknown: the database may or may not have applied this request; retrying is safe"

// internalMessage is the message of every other internal error.
var internalMessage = phonefleet.ErrorMessage(errors.New("internal"))

// internalErrorBody is the body of an internal error, encoded once.
var internalErrorBody, _ = json.Marshal(errorResponse{Code: phonefleet.EInternal, Message: internalMessage})

type loggerContextKey struct{}

// loggerFrom returns the server's logger carried by ctx, or slog's default.
func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerContextKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
