mod debian;
mod errors;
mod fixtures;
mod kernel;
mod live;
mod oracle;
mod resolve;
