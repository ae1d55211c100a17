// @countersign/exchange-gateway
export {};
