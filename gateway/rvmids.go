package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// claimedRvmID returns the one rvmId (lower case) that an envelope's rvmId
// and the "rvmId" fields anywhere in its body name, "" when none does, or
// why they disagree. body must be valid JSON, as decoding the envelope
// leaves it.
func claimedRvmID(envRvmID string, body []byte) (string, string) {
	claim := strings.ToLower(envRvmID)
	if !mayNameRvmID(body) {
		return claim, ""
	}
	var reason string
	eachRvmID(body, func(path func() string, id string) bool {
		id = strings.ToLower(id)
		switch {
		case id == "" || id == claim:
		case claim == "" && envRvmID == "":
			claim = id
		default:
			reason = fmt.Sprintf("%s names rvmId %q; the event speaks for %q", path(), id, claim)
			return false
		}
		return true
	})
	if reason != "" {
		return "", reason
	}
	return claim, ""
}

// mayNameRvmID is a quick test that body has no rvmId field, so that the
// common container and heartbeat bodies are not read twice. Only a body
// that spells "rvm" in some case, or escapes a character, can name one.
func mayNameRvmID(body []byte) bool {
	for i := 0; i+1 < len(body); i++ {
		switch c := body[i]; {
		case c == '\\' && body[i+1] == 'u':
			return true
		case (c == 'r' || c == 'R') && i+2 < len(body) && (body[i+1]|0x20) == 'v' && (body[i+2]|0x20) == 'm':
			return true
		}
	}
	return false
}

// eachRvmID calls fn with the value of every member whose name reads
// "rvmId" (in any case, however escaped) anywhere in the JSON text body,
// until fn returns false; path tells where the member is ("body.a[2].rvmId").
// A string value is passed unquoted, null as "", and any other value as its
// JSON text, so that it cannot slip through as "no rvmId"; the members of
// such a value are not looked into. body must be valid JSON: eachRvmID
// reads it once, without decoding it, because a transaction's body lists
// dozens of containers and decoding them all into maps to find one field
// cost the consumer more than the transaction's own decoding. On text that
// is not JSON it stops at the end without panicking, having called fn for
// whatever it took for members.
func eachRvmID(body []byte, fn func(path func() string, id string) bool) {
	type level struct {
		array bool
		index int    // the element being read, in an array
		name  []byte // the member being read, quoted, in an object
	}
	var stack []level
	for i := 0; i < len(body); {
		switch body[i] {
		case '{', '[':
			stack = append(stack, level{array: body[i] == '['})
			i++
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			i++
		case ',':
			if n := len(stack); n > 0 && stack[n-1].array {
				stack[n-1].index++
			}
			i++
		case '"':
			end := stringEnd(body, i)
			colon := skipSpace(body, end)
			n := len(stack)
			if n == 0 || stack[n-1].array || colon >= len(body) || body[colon] != ':' {
				i = end // a string value
				continue
			}
			name := body[i:end]
			stack[n-1].name = name
			i = colon + 1
			if !isRvmIDName(name) {
				continue
			}
			start := skipSpace(body, i)
			i = valueEnd(body, start)
			path := func() string {
				var b strings.Builder
				b.WriteString("body")
				for _, l := range stack {
					if l.array {
						b.WriteString("[" + strconv.Itoa(l.index) + "]")
					} else {
						b.WriteString("." + unquote(l.name))
					}
				}
				return b.String()
			}
			if !fn(path, rvmIDText(body[start:i])) {
				return
			}
		default:
			i++
		}
	}
}

// isRvmIDName reports whether the quoted member name q reads "rvmId" in
// any case, without copying it unless it holds an escape.
func isRvmIDName(q []byte) bool {
	if len(q) >= 2 && bytes.IndexByte(q, '\\') < 0 {
		return bytes.EqualFold(q[1:len(q)-1], []byte("rvmId"))
	}
	return strings.EqualFold(unquote(q), "rvmId")
}

// rvmIDText is the id an rvmId member's value names (see eachRvmID).
func rvmIDText(v []byte) string {
	switch {
	case len(v) > 0 && v[0] == '"':
		return unquote(v)
	case string(v) == "null":
		return ""
	}
	return string(v)
}

// unquote returns the string a JSON string literal spells; escapes are
// rare enough here to leave to encoding/json.
func unquote(q []byte) string {
	if len(q) < 2 {
		return ""
	}
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1])
	}
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return string(q)
	}
	return s
}

// stringEnd returns the index after the string literal that starts at
// body[i], a quote.
func stringEnd(body []byte, i int) int {
	for i++; i < len(body); i++ {
		switch body[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(body)
}

// skipSpace returns the index of the first byte from i on that is not
// JSON white space.
func skipSpace(body []byte, i int) int {
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index after the JSON value that starts at body[i].
func valueEnd(body []byte, i int) int {
	if i >= len(body) {
		return i
	}
	switch body[i] {
	case '"':
		return stringEnd(body, i)
	case '{', '[':
		depth := 0
		for i < len(body) {
			switch body[i] {
			case '"':
				i = stringEnd(body, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			i++
			if depth == 0 {
				return i
			}
		}
		return i
	}
	for i < len(body) && strings.IndexByte(",}] \t\n\r", body[i]) < 0 {
		i++
	}
	return i
}
