package payment

// Price is one item of the merchant's price list.
type Price struct {
	TotalFee    int64 // fen, for one
	Description string
}

// PriceList is the merchant's prices (WXPAY_PRICES). With one, the server
// decides what the mini-program pays: a request names an item and a
// quantity, never an amount of its own.
type PriceList struct {
	Items       map[string]Price
	MaxTotalFee int64 // the most one order may charge
}

// MaxQuantity bounds how many of an item one order buys.
const MaxQuantity = 99

// price applies the price list to r: the amount and description come from
// the list, and a client's own total_fee or description must equal them
// (so a mini-program may send what it shows). A trusted caller (a direct
// invocation) may still send an amount of its choosing instead of an item.
func (l *PriceList) price(r *PayRequest) error {
	if r.Item == "" {
		if r.Trusted {
			return nil
		}
		return invalid("ITEM_REQUIRED", "send the item to buy: prices are set by the merchant, not by the request")
	}
	p, ok := l.Items[r.Item]
	if !ok {
		return invalid("UNKNOWN_ITEM", "no such item in the price list")
	}
	if r.Quantity == 0 {
		r.Quantity = 1
	}
	if r.Quantity < 1 || r.Quantity > MaxQuantity || p.TotalFee > l.MaxTotalFee/int64(r.Quantity) {
		return invalid("INVALID_QUANTITY", "quantity must be a whole number from 1 to 99, within the largest amount one order may charge")
	}
	total := p.TotalFee * int64(r.Quantity)
	if r.TotalFee != 0 && r.TotalFee != total || r.Description != "" && r.Description != p.Description {
		return invalid("PRICE_MISMATCH", "total_fee or description differs from the price list; send the item and quantity only")
	}
	r.TotalFee, r.Description = total, p.Description
	return nil
}
