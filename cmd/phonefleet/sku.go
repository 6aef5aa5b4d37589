package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/phonefleet/phonefleet"
)

const skuUsage = `Usage:

	phonefleet sku list
	    prints one JSON object per SKU
	phonefleet sku add --id ID (or: sku add ID) --type PROFESSIONAL|ENTERPRISE --name NAME --regions R1,R2
	    --band-sizes 2,4,8 --month-price N --year-price N --hour-price N [--calc-spec S]
	    [--storage-spec S] [--spec-desc S] [--max-resolution 720p]
	    adds a SKU and prints its ID; prices are in minor units (cents) of USD
`

// newSKUCommand returns the sku commands.
func newSKUCommand(env *Env) command {
	return newGroup(env, "sku", skuUsage,
		leaf{"list", &SKUListCommand{Env: env}},
		leaf{"add", &SKUAddCommand{Env: env}},
	)
}

// SKUListCommand lists the catalogue.
type SKUListCommand struct{ *Env }

// Run prints one JSON object per SKU.
func (c *SKUListCommand) Run(ctx context.Context, args []string) error {
	return runList(ctx, c.Env, args, "sku list", "Usage: phonefleet sku list\n\nPrints one JSON object per SKU.\n", "",
		func(ctx context.Context, store phonefleet.Store, _ *string) ([]*phonefleet.SKU, error) {
			return store.FindSKUs(ctx)
		})
}

// SKUAddCommand adds a SKU to the catalogue.
type SKUAddCommand struct{ *Env }

// Run adds the SKU and prints its ID.
func (c *SKUAddCommand) Run(ctx context.Context, args []string) error {
	var dsn, regions, bandSizes string
	s := &phonefleet.SKU{Currency: phonefleet.Currency}
	fs := c.newFlagSet("sku add", skuUsage, &dsn)
	fs.StringVar(&s.ID, "id", "", "SKU ID, the instanceSkuId of purchases (1-64 of [A-Za-z0-9._-])")
	fs.StringVar(&s.Type, "type", phonefleet.SKUTypeProfessional, "PROFESSIONAL or ENTERPRISE")
	fs.StringVar(&s.Name, "name", "", "display name")
	fs.StringVar(&s.CalcSpec, "calc-spec", "", `compute spec, e.g. "4 vCPUs|8 GB"`)
	fs.StringVar(&s.StorageSpec, "storage-spec", "", `storage spec, e.g. "64 GB"`)
	fs.StringVar(&s.SpecDesc, "spec-desc", "", "the instance_sku display string of queries (default: built from the name and specs)")
	fs.StringVar(&s.MaxResolution, "max-resolution", "1080p", "maximum resolution")
	fs.StringVar(&regions, "regions", "", "comma-separated regions that offer it")
	fs.StringVar(&bandSizes, "band-sizes", "2,4,8", "comma-separated allowed bandwidths in Mbit/s")
	fs.Int64Var(&s.MonthPrice, "month-price", 0, "price of one month, minor units")
	fs.Int64Var(&s.YearPrice, "year-price", 0, "price of one year, minor units")
	fs.Int64Var(&s.HourPrice, "hour-price", 0, "pay-per-use price of one hour, minor units")
	fs.StringVar(&s.Currency, "currency", phonefleet.Currency, "currency (only USD)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 1:
		return usagef("usage: phonefleet sku add [ID] [flags] (see -h)")
	case len(pos) == 1:
		if s.ID != "" && s.ID != pos[0] {
			return usagef("give the SKU ID once: as --id or as the argument")
		}
		s.ID = pos[0]
	}
	if regions != "" {
		s.Regions = strings.Split(regions, ",")
	}
	if s.BandSizes, err = phonefleet.ParseBandSizes(bandSizes); err != nil {
		return err
	}
	if s.SpecDesc == "" {
		s.SpecDesc = strings.Join(nonEmpty(s.Name, s.CalcSpec, s.StorageSpec, "Maximum resolution: "+s.MaxResolution), " | ")
	}
	if err := s.Validate(); err != nil {
		return err
	}

	store, err := openStore(dsn, StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()

	if err := store.CreateSKU(ctx, s); err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.Stdout, s.ID)
	return err
}

// nonEmpty returns the strings of ss that are not empty.
func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
