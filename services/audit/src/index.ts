// @countersign/audit
export {};
