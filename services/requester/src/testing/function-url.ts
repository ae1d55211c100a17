// A Lambda function-URL (API Gateway v2) event, as the requester's Lambda receives it.
export function functionUrlEvent(
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | null,
) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'abc.lambda-url.us-east-1.on.aws', ...headers },
    body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc',
      domainName: 'abc.lambda-url.us-east-1.on.aws',
      domainPrefix: 'abc',
      requestId: 'r-1',
      routeKey: '$default',
      stage: '$default',
      time: '25/Nov/2026:16:00:00 +0000',
      timeEpoch: 1795622400000,
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
    },
  };
}
