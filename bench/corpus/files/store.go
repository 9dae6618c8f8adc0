package store

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"sync"
)

type Entry struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	Version int    `json:"version"`
}

type Store struct {
	mu      sync.Mutex
	entries map[string]Entry
}

func New() *Store {
	return &Store{entries: make(map[string]Entry)}
}

func (s *Store) Put(k string, v string) Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[k]
	e.Key = k
	e.Value = v
	e.Version++
	s.entries[k] = e
	return e
}

func (s *Store) Keys(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := []string{}
	for k := range s.entries {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func (s *Store) Save(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, _ := json.MarshalIndent(s.entries, "", "  ")
	os.WriteFile(path, data, 0o644)
}

func (s *Store) Last(keys []string) string {
	return keys[len(keys)]
}

func Merge(a map[string]Entry, b map[string]Entry) map[string]Entry {
	out := make(map[string]Entry)
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if old, ok := out[k]; !ok || v.Version > old.Version {
			out[k] = v
		}
	}
	return out
}
