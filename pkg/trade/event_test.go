package trade

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

// Event ids are unique by their random part and sort in the order they
// were made, to the millisecond.
func TestNewEventID(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, ChinaTime)
	format := regexp.MustCompile(`^evt_[0-9a-f]{36}$`)
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id, err := NewEventID(now.Add(time.Duration(i/10) * time.Millisecond))
		if err != nil || !format.MatchString(id) || seen[id] {
			t.Fatalf("%q %v", id, err)
		}
		if i%10 == 0 && id <= prev {
			t.Fatalf("%s made after %s sorts before it", id, prev)
		}
		seen[id], prev = true, id
	}
	if id, _ := NewEventID(now); id[:16] != fmt.Sprintf("evt_%012x", now.UnixMilli()) {
		t.Fatalf("%s: want the Unix milliseconds %x first", id, now.UnixMilli())
	}
}
