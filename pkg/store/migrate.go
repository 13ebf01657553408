package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// The schema changes, one directory per dialect: NNNN_name.sql, applied in
// the order of NNNN, each in a transaction that also records NNNN in
// schema_version (one row per applied version). Never edit a migration
// that has shipped; add the next one, to both dialects.
//
//go:embed migrations
var migrationFiles embed.FS

// migration is one numbered file of schema changes.
type migration struct {
	version    int
	name       string
	statements []string
}

// migrations returns a dialect's migrations in order. Their numbers must
// run from 1 without a gap, so that a missing file cannot go unnoticed.
func migrations(dialect string) ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/"+dialect+"/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names { // fs.Glob sorts them
		base := path.Base(name)
		prefix, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(prefix)
		if err != nil || v != len(ms)+1 {
			return nil, fmt.Errorf("store: migration %s is not numbered %04d", name, len(ms)+1)
		}
		text, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, statements: statements(string(text))})
	}
	return ms, nil
}

// statements splits a migration into its statements, each ending with a
// semicolon at the end of a line; "--" comment lines are dropped. The
// drivers run one statement per call (MySQL's runs several only with
// multiStatements, which the store leaves off).
func statements(text string) []string {
	var out []string
	var b strings.Builder
	for line := range strings.Lines(text) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			continue
		}
		b.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSpace(b.String()))
			b.Reset()
		}
	}
	if rest := strings.TrimSpace(b.String()); rest != "" {
		out = append(out, rest)
	}
	return out
}

// migrate brings the schema up to the newest migration, on one connection
// held throughout. On MySQL a named lock serialises instances that start
// together, since DDL commits at once and a transaction cannot.
func (s *sqlStore) migrate(ctx context.Context) error {
	ms, err := migrations(s.name)
	if err != nil {
		return err
	}
	latest := ms[len(ms)-1].version
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: connecting: %w", err)
	}
	defer conn.Close()
	if s.lock != "" {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, s.lock).Scan(&got); err != nil {
			return fmt.Errorf("store: waiting for the migration lock: %w", err)
		}
		if got.Int64 != 1 {
			return fmt.Errorf("store: another instance held the migration lock too long")
		}
		defer func() {
			// A session that keeps the lock would block every later start.
			if _, err := conn.ExecContext(ctx, s.unlock); err != nil {
				discard(conn)
			}
		}()
	}
	if _, err := conn.ExecContext(ctx, s.versionTable); err != nil {
		return fmt.Errorf("store: creating schema_version: %w", err)
	}
	v, err := schemaVersion(ctx, conn)
	if err != nil {
		return err
	}
	if v > latest {
		return fmt.Errorf("store: the database has schema version %d, newer than this build's %d: deploy the newer build", v, latest)
	}
	for _, m := range ms[v:] {
		err := s.txOn(ctx, conn, "migration "+m.name, func(tx *sql.Tx) error {
			// Another process may have applied it meanwhile.
			if v, err := schemaVersion(ctx, tx); err != nil || v >= m.version {
				return err
			}
			for i, stmt := range m.statements {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("store: migration %s, statement %d: %w%s", m.name, i+1, err, s.partialHint)
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, m.version)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion is the newest version recorded, 0 for a new database.
func schemaVersion(ctx context.Context, q queryRower) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: reading the schema version: %w", err)
	}
	return v, nil
}
