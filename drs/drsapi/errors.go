package drsapi

import (
	"encoding/json"
	"strconv"
	"strings"
)

// ApiException is the operator's structured error body (components.schemas.ApiException),
// sent with 400, 401, 403, 404, 422, 429, 500 and 503. The name keeps the
// operator's spelling so that it can be found next to the specification.
type ApiException struct {
	HTTPStatus int        `json:"httpStatus,omitempty"`
	ErrorType  string     `json:"errorType,omitempty"`
	Path       string     `json:"path,omitempty"`
	ObjectID   string     `json:"objectId,omitempty"`
	ErrorMsg   []ErrorMsg `json:"errorMsg,omitempty"`
}

// ErrorMsg is one finding inside an [ApiException]: what is wrong
// (ErrorCode, e.g. "TRS_PRODUCT_BAD_STATUS" or "REQUIRED"), with which field
// ("containers.ean") and in which row of a list (IDRow, IDRow2).
type ErrorMsg struct {
	ErrorCode     string   `json:"errorCode,omitempty"`
	Field         string   `json:"field,omitempty"`
	IDRow         *int     `json:"idRow,omitempty"`
	IDRow2        *int     `json:"idRow2,omitempty"`
	ErrorMsgLabel string   `json:"errorMsgLabel,omitempty"`
	ErrorMsgArgs  []string `json:"errorMsgArgs,omitempty"`
}

// ErrorMessage is the operator's other, older error shape (models/ErrorMessage.yaml),
// used for 400 MachineUnknown (errorCode 8) and 409 Conflict (errorCode 5).
type ErrorMessage struct {
	ErrorCode int    `json:"errorCode"`
	Msg       string `json:"msg,omitempty"`
	Path      string `json:"path,omitempty"`
}

// Codes of [ErrorMessage] that the operator documents.
const (
	ErrorCodeConflict       = 5 // "Conflicting ID of the request."
	ErrorCodeMachineUnknown = 8 // "Machine doesn't belong to given DRS operator."
)

// Error types of [ApiException].
const (
	ErrorTypeValidation = "api.err.type.validation"
	ErrorTypeBusiness   = "api.err.type.business"
	ErrorTypeAuth       = "api.err.type.auth"
	ErrorTypeNotFound   = "api.err.type.not.found"
	ErrorTypeTechnical  = "api.err.type.technical"
)

// Error codes of [ErrorMsg] as listed in the operator's 400 response, and the
// business codes this project meets.
const (
	CodeRequired        = "REQUIRED"
	CodeEnumError       = "ENUM_ERROR"
	CodeInconsistent    = "INCONSISTENT"
	CodeTooLong         = "TOO_LONG"
	CodeIncorrectFormat = "INCORRECT_FORMAT"
	CodeValueTooHigh    = "VALUE_TOO_HIGH"
	CodeValueTooLow     = "VALUE_TOO_LOW"
	CodeProductBadState = "TRS_PRODUCT_BAD_STATUS"
)

// ParseError reads an error body in either of the operator's shapes and
// returns it as an [ApiException]. An [ErrorMessage] becomes one ErrorMsg whose
// ErrorCode is the decimal code and whose ErrorMsgLabel is the message, so that
// callers look in one place. It returns nil when the body is neither shape.
func ParseError(body []byte) *ApiException {
	var w struct {
		HTTPStatus int             `json:"httpStatus"`
		ErrorType  string          `json:"errorType"`
		Path       string          `json:"path"`
		ObjectID   string          `json:"objectId"`
		ErrorMsg   []ErrorMsg      `json:"errorMsg"`
		ErrorCode  json.RawMessage `json:"errorCode"`
		Msg        string          `json:"msg"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil
	}
	e := &ApiException{HTTPStatus: w.HTTPStatus, ErrorType: w.ErrorType, Path: w.Path, ObjectID: w.ObjectID, ErrorMsg: w.ErrorMsg}
	if len(w.ErrorCode) > 0 || w.Msg != "" {
		code := strings.Trim(string(w.ErrorCode), `"`)
		if code == "null" {
			code = ""
		}
		e.ErrorMsg = append(e.ErrorMsg, ErrorMsg{ErrorCode: code, ErrorMsgLabel: w.Msg})
	}
	if e.HTTPStatus == 0 && e.ErrorType == "" && e.Path == "" && e.ObjectID == "" && len(e.ErrorMsg) == 0 {
		return nil
	}
	return e
}

// Code returns the first finding's error code, or "" when there is none.
func (e *ApiException) Code() string {
	if e == nil || len(e.ErrorMsg) == 0 {
		return ""
	}
	return e.ErrorMsg[0].ErrorCode
}

// String summarises the findings for a log line or a failure report:
// "TRS_PRODUCT_BAD_STATUS containers.ean[2]: api.err.msg.trs.product.bad.status (INACTIVE)".
func (e *ApiException) String() string {
	if e == nil {
		return ""
	}
	var parts []string
	for _, m := range e.ErrorMsg {
		var b strings.Builder
		b.WriteString(m.ErrorCode)
		if m.Field != "" {
			b.WriteString(" " + m.Field)
			if m.IDRow != nil {
				b.WriteString("[" + strconv.Itoa(*m.IDRow) + "]")
			}
			if m.IDRow2 != nil {
				b.WriteString("[" + strconv.Itoa(*m.IDRow2) + "]")
			}
		}
		if m.ErrorMsgLabel != "" {
			if b.Len() > 0 {
				b.WriteString(": ")
			}
			b.WriteString(m.ErrorMsgLabel)
		}
		if len(m.ErrorMsgArgs) > 0 {
			b.WriteString(" (" + strings.Join(m.ErrorMsgArgs, ", ") + ")")
		}
		parts = append(parts, strings.TrimSpace(b.String()))
	}
	if len(parts) == 0 {
		return e.ErrorType
	}
	return strings.Join(parts, "; ")
}
