package drsapi

import (
	"net/url"
	"strconv"
	"time"
)

// MaxPageLength is the largest page GET /product returns; longer requests
// are trimmed to it by the operator.
const MaxPageLength = 50

// ProductQuery holds the query parameters of GET /product. StartIndex is the
// 0-based index of the first product of the page. Zero times are left out;
// others are sent in UTC, truncated to the second, so that an incremental
// pull may fetch a product again but never misses one.
type ProductQuery struct {
	StartIndex   int
	PageLength   int
	UpdatedAfter time.Time
	CreatedAfter time.Time
	SendImages   bool
}

// Values encodes q as the operator's query parameters. A PageLength outside
// 1..MaxPageLength is sent as MaxPageLength.
func (q ProductQuery) Values() url.Values {
	v := url.Values{}
	n := q.PageLength
	if n <= 0 || n > MaxPageLength {
		n = MaxPageLength
	}
	v.Set("startIndex", strconv.Itoa(max(q.StartIndex, 0)))
	v.Set("pageLength", strconv.Itoa(n))
	if !q.UpdatedAfter.IsZero() {
		v.Set("updatedAfter", q.UpdatedAfter.UTC().Format(time.RFC3339))
	}
	if !q.CreatedAfter.IsZero() {
		v.Set("createdAfter", q.CreatedAfter.UTC().Format(time.RFC3339))
	}
	if q.SendImages {
		v.Set("sendImages", "true")
	}
	return v
}
