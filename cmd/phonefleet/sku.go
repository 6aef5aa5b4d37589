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
	phonefleet sku price ID --region R --month-price N --year-price N --hour-price N
	    sets the SKU's prices in one of its regions and prints the SKU
	phonefleet sku retire ID
	    stops selling the SKU (purchases answer KOOPHONE.API.3002, the catalogue
	    leaves it out); its instances keep running
`

// newSKUCommand returns the sku commands.
func newSKUCommand(env *Env) command {
	return newGroup(env, "sku", skuUsage,
		leaf{"list", &SKUListCommand{Env: env}},
		leaf{"add", &SKUAddCommand{Env: env}},
		leaf{"price", &SKUPriceCommand{Env: env}},
		leaf{"retire", &SKURetireCommand{Env: env}},
	)
}

// SKUPriceCommand sets a SKU's prices in one region.
type SKUPriceCommand struct{ *Env }

// Run sets the prices and prints the SKU.
func (c *SKUPriceCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	var p phonefleet.RegionPrice
	fs := c.newOperatorFlagSet("sku price", "Usage: phonefleet sku price ID --region R --month-price N --year-price N --hour-price N\n\nSets the SKU's prices (minor units) in one of its regions, where they replace\nits base prices, and prints the SKU.\n", &of)
	fs.StringVar(&p.Region, "region", "", "one of the SKU's regions")
	fs.Int64Var(&p.MonthPrice, "month-price", 0, "price of one month there, minor units")
	fs.Int64Var(&p.YearPrice, "year-price", 0, "price of one year there, minor units")
	fs.Int64Var(&p.HourPrice, "hour-price", 0, "pay-per-use price of one hour there, minor units")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 {
		return usagef("usage: phonefleet sku price ID --region R --month-price N --year-price N --hour-price N")
	} else if err := p.Validate(); err != nil {
		return usagef("%s", phonefleet.ErrorMessage(err))
	}
	ops, done, err := c.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()
	sku, err := ops.SetSKUPrice(ctx, pos[0], p)
	if err != nil {
		return err
	}
	return writeJSONLines(c.Stdout, []*phonefleet.SKU{sku})
}

// SKURetireCommand stops selling a SKU.
type SKURetireCommand struct{ *Env }

// Run retires the SKU and prints it.
func (c *SKURetireCommand) Run(ctx context.Context, args []string) error {
	var sku *phonefleet.SKU
	err := runOneID(ctx, c.Env, args, "sku retire", "Usage: phonefleet sku retire ID\n\nStops selling the SKU: purchases of it answer KOOPHONE.API.3002 and the\ncatalogue leaves it out. Its instances keep running. Prints the SKU.\n", "usage: phonefleet sku retire ID",
		func(ctx context.Context, ops operatorAPI, id string) (err error) {
			sku, err = ops.RetireSKU(ctx, id)
			return err
		})
	if err != nil || sku == nil {
		return err
	}
	return writeJSONLines(c.Stdout, []*phonefleet.SKU{sku})
}

// SKUListCommand lists the catalogue.
type SKUListCommand struct{ *Env }

// Run prints one JSON object per SKU.
func (c *SKUListCommand) Run(ctx context.Context, args []string) error {
	return runList(ctx, c.Env, args, "sku list", "Usage: phonefleet sku list\n\nPrints one JSON object per SKU.\n", "",
		func(ctx context.Context, ops operatorAPI, _ string) ([]*phonefleet.SKU, error) {
			return ops.SKUs(ctx)
		})
}

// SKUAddCommand adds a SKU to the catalogue.
type SKUAddCommand struct{ *Env }

// Run adds the SKU and prints its ID.
func (c *SKUAddCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	var regions, bandSizes string
	s := &phonefleet.SKU{Currency: phonefleet.Currency}
	fs := c.newOperatorFlagSet("sku add", skuUsage, &of)
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

	ops, done, err := c.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()
	if err := ops.CreateSKU(ctx, s); err != nil {
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
