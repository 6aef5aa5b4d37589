package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet/sqlite"
	_ "modernc.org/sqlite"
)

// knownSchemaDifferences are the facts of one store's schema that the
// other lacks on purpose, each with the reason. Column types differ by
// design (text times and JSON lists in SQLite, timestamptz and arrays in
// PostgreSQL) and are not compared.
var knownSchemaDifferences = map[string]string{}

// TestSchema_SameAsSQLite migrates an empty SQLite file and an empty
// PostgreSQL schema and compares what both stores rely on: every table's
// column names and nullability, primary keys, unique constraints, foreign
// keys (with their ON DELETE action), which columns carry a CHECK, and the
// named indexes (columns, uniqueness, partial or not). A difference not
// listed in knownSchemaDifferences fails the test: a migration of one store
// needs its twin in the other.
func TestSchema_SameAsSQLite(t *testing.T) {
	pgURL := MustCreateSchema(t, MustTestURL(t))
	MustOpenDBAt(t, pgURL, nil)
	file := filepath.Join(t.TempDir(), "schema.db")
	lite := sqlite.NewDB(file)
	if err := lite.Open(); err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	lite.Close()

	pgFacts := mustPostgresSchema(t, pgURL)
	liteFacts := mustSQLiteSchema(t, file)
	if len(pgFacts) < 50 || len(liteFacts) < 50 {
		t.Fatalf("read %d PostgreSQL and %d SQLite schema facts, want the whole schema", len(pgFacts), len(liteFacts))
	}
	var diffs []string
	for _, f := range pgFacts {
		if !slices.Contains(liteFacts, f) && knownSchemaDifferences["postgres only: "+f] == "" {
			diffs = append(diffs, "postgres only: "+f)
		}
	}
	for _, f := range liteFacts {
		if !slices.Contains(pgFacts, f) && knownSchemaDifferences["sqlite only: "+f] == "" {
			diffs = append(diffs, "sqlite only: "+f)
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("the two stores' schemas differ:\n\t%s", strings.Join(diffs, "\n\t"))
	}
	for d := range knownSchemaDifferences {
		f := strings.TrimPrefix(strings.TrimPrefix(d, "postgres only: "), "sqlite only: ")
		if slices.Contains(pgFacts, f) == slices.Contains(liteFacts, f) {
			t.Fatalf("known difference %q is no longer one: remove it from the list", d)
		}
	}
}

// Schema facts are lines such as
//
//	column orders.count NOT NULL
//	primary key tenants (id)
//	unique tenants (name)
//	foreign key refunds (order_id) -> orders (id) ON DELETE NO ACTION
//	check orders.count
//	index commands_in_flight_idx ON commands (instance_id) WHERE ...
func columnFact(table, col string, notNull bool) string {
	if notNull {
		return fmt.Sprintf("column %s.%s NOT NULL", table, col)
	}
	return fmt.Sprintf("column %s.%s NULL", table, col)
}

func indexFact(name, table string, unique, partial bool, cols []string) string {
	f := "index " + name + " ON " + table
	if unique {
		f = "unique " + f
	}
	f += " (" + strings.Join(cols, ", ") + ")"
	if partial {
		f += " WHERE ..."
	}
	return f
}

// mustPostgresSchema reads the facts of the schema that dbURL's search_path
// names.
func mustPostgresSchema(t *testing.T, dbURL string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	var facts []string
	query := func(q string, scan func(pgx.CollectableRow) (string, error)) {
		t.Helper()
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		fs, err := pgx.CollectRows(rows, scan)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		facts = append(facts, fs...)
	}

	query(`SELECT table_name, column_name, is_nullable = 'NO' FROM information_schema.columns WHERE table_schema = current_schema()`,
		func(r pgx.CollectableRow) (string, error) {
			var table, col string
			var notNull bool
			err := r.Scan(&table, &col, &notNull)
			return columnFact(table, col, notNull), err
		})
	query(`
		SELECT t.relname, c.contype,
			ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k (n, o)
				JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o),
			COALESCE(f.relname, ''),
			ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k (n, o)
				JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o),
			c.confdeltype
		FROM pg_constraint c
		JOIN pg_class t ON t.oid = c.conrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		LEFT JOIN pg_class f ON f.oid = c.confrelid
		WHERE n.nspname = current_schema() AND c.contype IN ('p', 'u', 'f', 'c')`,
		func(r pgx.CollectableRow) (string, error) {
			var table, ftable string
			var typ, onDelete byte
			var cols, fcols []string
			if err := r.Scan(&table, &typ, &cols, &ftable, &fcols, &onDelete); err != nil {
				return "", err
			}
			switch typ {
			case 'p':
				return "primary key " + table + " (" + strings.Join(cols, ", ") + ")", nil
			case 'u':
				return "unique " + table + " (" + strings.Join(cols, ", ") + ")", nil
			case 'f':
				action := map[byte]string{'a': "NO ACTION", 'r': "RESTRICT", 'c': "CASCADE", 'n': "SET NULL", 'd': "SET DEFAULT"}[onDelete]
				return fmt.Sprintf("foreign key %s (%s) -> %s (%s) ON DELETE %s", table, strings.Join(cols, ", "), ftable, strings.Join(fcols, ", "), action), nil
			default:
				return "check " + table + "." + strings.Join(cols, ","), nil
			}
		})
	query(`
		SELECT i.relname, t.relname, x.indisunique, x.indpred IS NOT NULL,
			ARRAY(SELECT a.attname FROM unnest(x.indkey::int2[]) WITH ORDINALITY k (n, o)
				JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o)
		FROM pg_index x
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class t ON t.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = current_schema()
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u'))`,
		func(r pgx.CollectableRow) (string, error) {
			var name, table string
			var unique, partial bool
			var cols []string
			err := r.Scan(&name, &table, &unique, &partial, &cols)
			return indexFact(name, table, unique, partial, cols), err
		})
	slices.Sort(facts)
	return facts
}

// mustSQLiteSchema reads the facts of the SQLite file's schema.
func mustSQLiteSchema(t *testing.T, file string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var facts []string
	rows := func(q string, args ...any) *sql.Rows {
		t.Helper()
		r, err := db.Query(q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return r
	}
	type table struct{ name, sql string }
	var tables []table
	r := rows(`SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	for r.Next() {
		var tb table
		if err := r.Scan(&tb.name, &tb.sql); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, tb)
	}
	r.Close()

	for _, tb := range tables {
		// Columns and the primary key. SQLite lets a primary key column
		// other than INTEGER hold NULL (a legacy quirk); the stores never
		// write one, so such columns count as NOT NULL, as in PostgreSQL.
		var pk []string
		r := rows(`SELECT name, "notnull", pk FROM pragma_table_info(?) ORDER BY pk`, tb.name)
		for r.Next() {
			var col string
			var notNull bool
			var pkPos int
			if err := r.Scan(&col, &notNull, &pkPos); err != nil {
				t.Fatal(err)
			}
			if pkPos > 0 {
				pk = append(pk, col)
			}
			facts = append(facts, columnFact(tb.name, col, notNull || pkPos > 0))
		}
		r.Close()
		facts = append(facts, "primary key "+tb.name+" ("+strings.Join(pk, ", ")+")")

		// Foreign keys, one fact per constraint.
		type fk struct{ from, to []string }
		fks := map[int]*fk{}
		targets := map[int]string{}
		r = rows(`SELECT id, "table", "from", "to", on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq`, tb.name)
		for r.Next() {
			var id int
			var target, from, to, onDelete string
			if err := r.Scan(&id, &target, &from, &to, &onDelete); err != nil {
				t.Fatal(err)
			}
			if fks[id] == nil {
				fks[id] = &fk{}
			}
			fks[id].from, fks[id].to = append(fks[id].from, from), append(fks[id].to, to)
			targets[id] = target + "|" + onDelete
		}
		r.Close()
		for id, k := range fks {
			target, onDelete, _ := strings.Cut(targets[id], "|")
			facts = append(facts, fmt.Sprintf("foreign key %s (%s) -> %s (%s) ON DELETE %s", tb.name, strings.Join(k.from, ", "), target, strings.Join(k.to, ", "), onDelete))
		}

		// Column CHECKs, read from the table's definition: one column per line.
		// ALTER TABLE ADD COLUMN appends ", name TYPE ..." to the definition,
		// so a line may hold several columns.
		for line := range strings.SplitSeq(tb.sql, "\n") {
			for col := range strings.SplitSeq(line, ", ") {
				if f := strings.Fields(col); len(f) > 1 && strings.Contains(col, "CHECK") {
					facts = append(facts, "check "+tb.name+"."+f[0])
				}
			}
		}

		// Unique constraints and named indexes.
		type index struct {
			name, origin    string
			unique, partial bool
		}
		var indexes []index
		r = rows(`SELECT name, "unique", origin, partial FROM pragma_index_list(?)`, tb.name)
		for r.Next() {
			var ix index
			if err := r.Scan(&ix.name, &ix.unique, &ix.origin, &ix.partial); err != nil {
				t.Fatal(err)
			}
			indexes = append(indexes, ix)
		}
		r.Close()
		for _, ix := range indexes {
			if ix.origin == "pk" {
				continue
			}
			var cols []string
			r := rows(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`, ix.name)
			for r.Next() {
				var col string
				if err := r.Scan(&col); err != nil {
					t.Fatal(err)
				}
				cols = append(cols, col)
			}
			r.Close()
			if ix.origin == "u" {
				facts = append(facts, "unique "+tb.name+" ("+strings.Join(cols, ", ")+")")
			} else {
				facts = append(facts, indexFact(ix.name, tb.name, ix.unique, ix.partial, cols))
			}
		}
	}
	slices.Sort(facts)
	return facts
}
