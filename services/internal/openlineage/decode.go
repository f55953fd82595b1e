package openlineage

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
)

// DecodeAsset decodes from an asset event's data (an events.Asset's JSON,
// as package normalize writes it) the fields Collector.Add reads; the
// others stay empty. It walks the asset's members with package artifact's
// scanner and decodes only those, several times faster than
// encoding/json on the whole asset (which validates and decodes its meta,
// config, catalog statistics and the columns' tests as well).
func DecodeAsset(data []byte) (events.Asset, error) {
	var a events.Asset
	ok, err := artifact.EachMember(data, func(k, v []byte) error {
		switch string(k) {
		case "unique_id":
			a.UniqueID = artifact.RawText(v)
		case "resource_type":
			a.ResourceType = artifact.RawText(v)
		case "name":
			a.Name = artifact.RawText(v)
		case "database":
			a.Database = artifact.RawText(v)
		case "schema":
			a.Schema = artifact.RawText(v)
		case "identifier":
			a.Identifier = artifact.RawText(v)
		case "materialization":
			a.Materialization = artifact.RawText(v)
		case "language":
			a.Language = artifact.RawText(v)
		case "description":
			a.Description = artifact.RawText(v)
		case "owner":
			a.Owner = artifact.RawText(v)
		case "compiled_code":
			a.CompiledCode = artifact.RawText(v)
		case "tags":
			a.Tags = artifact.RawTextList(v)
		case "depends_on":
			a.DependsOn = artifact.RawTextList(v)
		case "columns":
			return decodeColumns(v, &a)
		case "result":
			return json.Unmarshal(v, &a.Result)
		case "test":
			return json.Unmarshal(v, &a.Test)
		}
		return nil
	})
	if err == nil && !ok {
		err = errors.New("not a JSON object")
	}
	if err != nil {
		return events.Asset{}, fmt.Errorf("openlineage: decode asset: %w", err)
	}
	return a, nil
}

// decodeColumns reads the name, type, description, index and tags of each
// column.
func decodeColumns(raw []byte, a *events.Asset) error {
	_, err := artifact.EachElement(raw, func(col []byte) error {
		var c events.Column
		_, err := artifact.EachMember(col, func(k, v []byte) error {
			switch string(k) {
			case "name":
				c.Name = artifact.RawText(v)
			case "data_type":
				c.DataType = artifact.RawText(v)
			case "description":
				c.Description = artifact.RawText(v)
			case "index":
				c.Index = int(artifact.RawNumber(v).Value)
			case "tags":
				c.Tags = artifact.RawTextList(v)
			}
			return nil
		})
		a.Columns = append(a.Columns, c)
		return err
	})
	return err
}
