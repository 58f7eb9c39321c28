package drssim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs/drsapi"
)

// ErrCatalog is wrapped by every catalogue file error.
var ErrCatalog = errors.New("drssim: bad catalogue")

// defaultDate stands in for a product's missing creation or update date: the
// day the deposit system started, so that such products come with a full
// sync and never with an incremental one.
const defaultDate = "2025-10-01T00:00:00Z"

// productNS derives stable ids for products that come without one.
var productNS = uuid.MustParse("6ba7b811-9dad-11d1-80b4-00c04fd430c8")

// ParseCatalog reads a catalogue file (docs/interfaces.md, "Catalogue file"): a JSON array
// of products or a GET /product page. Every product needs an ean and a
// deposit; an EAN twice is an error. Missing ids and dates are filled in
// deterministically.
func ParseCatalog(data []byte) ([]drsapi.Product, error) {
	var ps []drsapi.Product
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(t, &ps); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCatalog, err)
		}
	} else {
		var page drsapi.ProductPage
		if err := json.Unmarshal(t, &page); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCatalog, err)
		}
		if page.Data == nil {
			return nil, fmt.Errorf("%w: neither an array nor a page with data", ErrCatalog)
		}
		ps = page.Data
	}
	seen := map[string]bool{}
	for i := range ps {
		p := &ps[i]
		if p.EAN == "" {
			return nil, fmt.Errorf("%w: product %d (%q) has no ean", ErrCatalog, i, p.Name)
		}
		if p.Deposit == nil {
			return nil, fmt.Errorf("%w: product %s (%q) has no deposit", ErrCatalog, p.EAN, p.Name)
		}
		if seen[p.EAN] {
			return nil, fmt.Errorf("%w: ean %s twice", ErrCatalog, p.EAN)
		}
		seen[p.EAN] = true
		for _, d := range []*string{&p.CreationDate, &p.UpdatedDate} {
			if *d == "" {
				*d = defaultDate
			} else if _, err := time.Parse(time.RFC3339, *d); err != nil {
				return nil, fmt.Errorf("%w: product %s: date %q: %w", ErrCatalog, p.EAN, *d, err)
			}
		}
		if p.ID == "" {
			p.ID = uuid.NewSHA1(productNS, []byte(p.EAN)).String()
		}
	}
	return ps, nil
}

// catalog is the served catalogue, in file order.
type catalog struct {
	mu    sync.RWMutex
	list  []drsapi.Product // guarded by mu
	index map[string]int   // ean -> position in list; guarded by mu
}

func newCatalog(ps []drsapi.Product) *catalog {
	c := &catalog{index: map[string]int{}}
	for _, p := range ps {
		c.put(p)
	}
	return c
}

func (c *catalog) put(p drsapi.Product) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[p.EAN]; ok {
		c.list[i] = p
		return
	}
	c.index[p.EAN] = len(c.list)
	c.list = append(c.list, p)
}

func (c *catalog) get(ean string) (drsapi.Product, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i, ok := c.index[ean]
	if !ok {
		return drsapi.Product{}, false
	}
	return c.list[i], true
}

// page returns the products updated after ua and created after ca (zero:
// no filter), from index start, at most n of them, and how many match.
func (c *catalog) page(start, n int, ua, ca time.Time) ([]drsapi.Product, int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var match []drsapi.Product
	for _, p := range c.list {
		if !ua.IsZero() && !after(p.UpdatedDate, ua) {
			continue
		}
		if !ca.IsZero() && !after(p.CreationDate, ca) {
			continue
		}
		match = append(match, p)
	}
	total := len(match)
	if start >= total {
		return []drsapi.Product{}, total
	}
	end := min(start+n, total)
	out := make([]drsapi.Product, end-start)
	copy(out, match[start:end])
	return out, total
}

func after(date string, t time.Time) bool {
	d, err := time.Parse(time.RFC3339, date)
	return err == nil && d.After(t)
}

// statusName names a collection status for an error's arguments.
func statusName(p drsapi.Product, ok bool) string {
	if !ok {
		return "UNKNOWN"
	}
	if p.CollectionStatusID == nil {
		return "NONE"
	}
	names := map[int]string{drsapi.StatusEarly: "EARLY", drsapi.StatusAccept: "ACCEPT", drsapi.StatusReject: "INACTIVE", drsapi.StatusTest: "TEST"}
	if n, ok := names[*p.CollectionStatusID]; ok {
		return n
	}
	return fmt.Sprint(*p.CollectionStatusID)
}
