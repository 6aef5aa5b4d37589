package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
)

// ErrInUse is the error of LockExclusive, and of Open, when another
// process holds the database's lock the other way: a restore cannot
// replace a database that a server or a command has open, and a database
// being restored cannot be opened.
var ErrInUse = errors.New("the database is in use by another phonefleet process")

// LockPath returns the lock file of the database at path: next to the
// file the path leads to, symbolic links followed, so that every spelling
// of one database (relative, absolute, through a link) has one lock. Open
// holds a shared flock(2) lock on it for as long as the DB is open; a
// restore takes it exclusively. The file stays after use: removing a lock
// file others may be opening is a race.
func LockPath(path string) string { return ResolvePath(path) + ".lock" }

// ResolvePath returns the file path leads to, with symbolic links (of the
// file, or of its directory when the file does not exist yet) followed;
// path itself if they cannot be.
func ResolvePath(path string) string {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		return p
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		return filepath.Join(dir, filepath.Base(path))
	}
	return path
}

// LockExclusive takes the database's lock exclusively, without waiting:
// ErrInUse while any process has the database open through Open (serve,
// or an operator command). Until unlock is called, Open of that database
// fails with ErrInUse.
func LockExclusive(path string) (unlock func() error, err error) {
	f, err := lockFile(LockPath(path), true)
	if err != nil {
		return nil, err
	}
	return f.Close, nil
}

// checkPath refuses paths that the driver would read as a URI or an
// in-memory database.
func checkPath(path string) error {
	if path == "" {
		return fmt.Errorf("sqlite: database path required")
	} else if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || strings.Contains(path, ":memory:") {
		return fmt.Errorf("sqlite: database path %q must be a plain file path", path)
	}
	return nil
}

// openRaw opens the existing file at path on one connection, without
// migrating it; readOnly makes it query_only.
func openRaw(path string, readOnly bool) (*sql.DB, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	dsn := fmt.Sprintf("%s?_pragma=busy_timeout(%d)", path, BusyTimeout.Milliseconds())
	if readOnly {
		dsn += "&_pragma=query_only(1)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Backup writes a consistent copy of the database at path to the file
// to, while other processes keep reading and writing it. The copy is
// SQLite's VACUUM INTO, which reads the whole database in one read
// transaction: in WAL mode that is a snapshot as of its start, so the copy
// holds every transaction committed before Backup began and none that
// commits while it runs, and writers do not wait for it. It is written to
// a temporary file next to to, fsynced, and then renamed into place (with
// force) or linked there (without: an existing to is refused, even one
// that appears meanwhile), and the directory is fsynced, so to is either
// absent or a whole copy. The copy is compacted and in rollback-journal
// mode, readable by its owner only; Open switches it back to WAL.
func Backup(ctx context.Context, path, to string, force bool) (err error) {
	if !force {
		if _, err := os.Lstat(to); err == nil {
			return phonefleet.Errorf(phonefleet.EConflict, "%s exists (--force replaces it)", to)
		}
	}
	src, err := openRaw(path, false)
	if errors.Is(err, fs.ErrNotExist) {
		return phonefleet.Errorf(phonefleet.ENotFound, "database %s does not exist", path)
	} else if err != nil {
		return err
	}
	defer src.Close()
	if _, err := readMigrations(ctx, src); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}

	tmp, err := tempName(to, "backup")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err := src.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return fmt.Errorf("copy %s: %w", path, err)
	}
	// It holds password hashes and access key secrets: owner only.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if force {
		err = os.Rename(tmp, to)
	} else if err = os.Link(tmp, to); err == nil {
		os.Remove(tmp)
	} else if errors.Is(err, fs.ErrExist) {
		return phonefleet.Errorf(phonefleet.EConflict, "%s exists (--force replaces it)", to)
	}
	if err != nil {
		return fmt.Errorf("put the backup in place: %w", err)
	}
	return syncDir(filepath.Dir(to))
}

// tempName returns a name for a new file next to path that no other file
// has.
func tempName(path, what string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"."+what+"-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	f.Close()
	// VACUUM INTO refuses a file that is not empty, and an empty one is
	// an empty database to everything else, so it goes: the random name
	// stays this process's.
	return name, os.Remove(name)
}

// syncFile fsyncs the file at path.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return f.Close()
}

// syncDir fsyncs a directory, so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// CheckFile checks a database file that is not in use, such as a backup,
// without changing it: it must be a phonefleet database (it has the
// migrations table), pass SQLite's integrity_check and foreign_key_check,
// and have no migration that this binary does not know (a newer version
// wrote it; EInvalid). It does not check the rows against each other:
// phonefleet.ConsistencyCheck does, on the opened store.
func CheckFile(ctx context.Context, path string) error {
	db, err := openRaw(path, true)
	if errors.Is(err, fs.ErrNotExist) {
		return phonefleet.Errorf(phonefleet.ENotFound, "%s does not exist", path)
	} else if err != nil {
		return err
	}
	defer db.Close()
	if err := checkIntegrity(ctx, db); err != nil {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s: %s", path, err)
	}
	applied, err := readMigrations(ctx, db)
	if err != nil {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s: %s", path, err)
	}
	st := phonefleet.PlanMigrationStatus(Migrations(), applied)
	if unknown := phonefleet.UnknownMigrations(st); len(unknown) > 0 {
		return phonefleet.Errorf(phonefleet.EInvalid, "%s has migrations this binary does not know (%s): a newer version wrote it", path, strings.Join(unknown, ", "))
	}
	return nil
}

// checkIntegrity runs integrity_check and foreign_key_check.
func checkIntegrity(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("not a readable SQLite database: %w", err)
	}
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return err
		}
		if m != "ok" {
			msgs = append(msgs, m)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("not a readable SQLite database: %w", err)
	} else if len(msgs) > 0 {
		return fmt.Errorf("integrity check failed: %s", strings.Join(msgs, "; "))
	}
	var table string
	var rowid sql.NullInt64
	var parent string
	var fkid int
	err = db.QueryRowContext(ctx, `PRAGMA foreign_key_check`).Scan(&table, &rowid, &parent, &fkid)
	if err == nil {
		return fmt.Errorf("foreign key check failed: a row of %s names a missing row of %s", table, parent)
	} else if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("foreign key check: %w", err)
	}
	return nil
}

// Migrations returns the names of the migrations this binary applies, in
// order.
func Migrations() []string {
	names, _ := fs.Glob(migrationFS, "migration/*.sql")
	sort.Strings(names)
	return names
}

// AppliedMigrations reads which migrations the existing database at path
// has had, and when, without applying any.
func AppliedMigrations(ctx context.Context, path string) (map[string]time.Time, error) {
	db, err := openRaw(path, true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, phonefleet.Errorf(phonefleet.ENotFound, "database %s does not exist", path)
	} else if err != nil {
		return nil, err
	}
	defer db.Close()
	return readMigrations(ctx, db)
}

// readMigrations reads the migrations table.
func readMigrations(ctx context.Context, db *sql.DB) (map[string]time.Time, error) {
	rows, err := db.QueryContext(ctx, `SELECT name, applied_at FROM migrations`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, fmt.Errorf("not a phonefleet database (no migrations table)")
		}
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var name, at string
		if err := rows.Scan(&name, &at); err != nil {
			return nil, fmt.Errorf("read migrations: %w", err)
		}
		t, err := parseTime(at)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	return out, nil
}

// Install puts the database file at from in place of the one at path,
// atomically: a rename, then the removal of path's write-ahead log and
// shared-memory files, which belong to the database replaced, then an
// fsync of the directory. Call it holding LockExclusive(path), with from
// in path's directory and no process using it.
func Install(from, path string) error {
	// A store opened on from (to migrate and check it) may have left
	// pages in its write-ahead log, which a rename would leave behind:
	// back to a rollback journal, everything is in the one file.
	db, err := openRaw(from, false)
	if err != nil {
		return err
	}
	var mode string
	err = db.QueryRow(`PRAGMA journal_mode=DELETE`).Scan(&mode)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("settle %s: %w", from, err)
	} else if mode != "delete" {
		return fmt.Errorf("settle %s: journal mode is still %s", from, mode)
	}
	RemoveTemp(from, false)
	if err := syncFile(from); err != nil {
		return err
	}
	if err := os.Rename(from, path); err != nil {
		return fmt.Errorf("put %s in place: %w", path, err)
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove the old %s: %w", path+suffix, err)
		}
	}
	return syncDir(filepath.Dir(path))
}

// CopyToTemp copies the file at from to a new file next to path, fsynced,
// and returns its name, for Install once checked.
func CopyToTemp(from, path string) (name string, err error) {
	src, err := os.Open(from)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".restore-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			dst.Close()
			os.Remove(dst.Name())
		}
	}()
	if _, err := dst.ReadFrom(src); err != nil {
		return "", fmt.Errorf("copy %s: %w", from, err)
	}
	if err := dst.Sync(); err != nil {
		return "", fmt.Errorf("fsync %s: %w", dst.Name(), err)
	}
	return dst.Name(), dst.Close()
}

// RemoveTemp removes what a store opened on the temporary file at path
// leaves next to it (its write-ahead log, shared memory and lock files),
// and with main the file itself.
func RemoveTemp(path string, main bool) {
	for _, suffix := range []string{"-wal", "-shm", "-journal", ".lock"} {
		os.Remove(path + suffix)
	}
	if main {
		os.Remove(path)
	}
}
