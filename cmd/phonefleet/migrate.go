package main

import "context"

// MigrateCommand creates or upgrades the database schema.
type MigrateCommand struct{ *Env }

// Run applies every pending migration and exits.
func (c *MigrateCommand) Run(ctx context.Context, args []string) error {
	var dsn string
	fs := c.newFlagSet("migrate", "Usage: phonefleet migrate [--db DSN]\n\nCreates or upgrades the database; a new database gets the default SKU catalogue.\n", &dsn)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	store, err := openStore(dsn, StoreOptions{Create: true})
	if err != nil {
		return err
	}
	return store.Close()
}
