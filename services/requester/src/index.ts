// @countersign/requester
export {};
