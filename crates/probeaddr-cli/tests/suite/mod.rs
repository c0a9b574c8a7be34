mod errors;
mod fixtures;
mod live;
mod oracle;
mod resolve;
